package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Metadata is a split's dataset.json, field for field as the reference's
// PuzzleDatasetMetadata (spec/reference-data.md 1.3).
type Metadata struct {
	PadID                int      `json:"pad_id"`
	IgnoreLabelID        *int     `json:"ignore_label_id"`
	BlankIdentifierID    int      `json:"blank_identifier_id"`
	VocabSize            int      `json:"vocab_size"`
	SeqLen               int      `json:"seq_len"`
	NumPuzzleIdentifiers int      `json:"num_puzzle_identifiers"`
	TotalGroups          int      `json:"total_groups"`
	MeanPuzzleExamples   float64  `json:"mean_puzzle_examples"`
	TotalPuzzles         int      `json:"total_puzzles"`
	Sets                 []string `json:"sets"`
}

// IntPtr returns a pointer to v, for Metadata.IgnoreLabelID.
func IntPtr(v int) *int { return &v }

// MarshalReference renders m exactly as the reference writes dataset.json:
// json.dump of a pydantic model_dump, i.e. one line in field order with
// Python's ", " and ": " separators, floats in Python repr, no trailing
// newline. Byte equality with the reference's file matters because users
// compare datasets by checksum.
func (m Metadata) MarshalReference() []byte {
	var b bytes.Buffer
	b.WriteString(`{"pad_id": `)
	b.WriteString(strconv.Itoa(m.PadID))
	b.WriteString(`, "ignore_label_id": `)
	if m.IgnoreLabelID == nil {
		b.WriteString("null")
	} else {
		b.WriteString(strconv.Itoa(*m.IgnoreLabelID))
	}
	fmt.Fprintf(&b, `, "blank_identifier_id": %d, "vocab_size": %d, "seq_len": %d, "num_puzzle_identifiers": %d, "total_groups": %d, "mean_puzzle_examples": %s, "total_puzzles": %d, "sets": [`,
		m.BlankIdentifierID, m.VocabSize, m.SeqLen, m.NumPuzzleIdentifiers, m.TotalGroups, PythonFloat(m.MeanPuzzleExamples), m.TotalPuzzles)
	for i, s := range m.Sets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(PythonString(s))
	}
	b.WriteString("]}")
	return b.Bytes()
}

// ParseMetadata decodes a dataset.json and checks that every field of the
// reference is present; name is used in error messages.
func ParseMetadata(name string, data []byte) (Metadata, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Metadata{}, fmt.Errorf("%s: %w", name, jsonPosition(data, err))
	}
	for _, key := range []string{"pad_id", "ignore_label_id", "blank_identifier_id", "vocab_size", "seq_len",
		"num_puzzle_identifiers", "total_groups", "mean_puzzle_examples", "total_puzzles", "sets"} {
		if _, ok := raw[key]; !ok {
			return Metadata{}, fmt.Errorf("%s: missing field %q", name, key)
		}
	}
	var m Metadata
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Metadata{}, fmt.Errorf("%s: %w", name, jsonPosition(data, err))
	}
	switch {
	case m.VocabSize < 1 || m.VocabSize > 256:
		return Metadata{}, fmt.Errorf("%s: vocab_size %d outside 1..256 (tokens are stored as bytes)", name, m.VocabSize)
	case m.SeqLen < 1:
		return Metadata{}, fmt.Errorf("%s: seq_len %d must be positive", name, m.SeqLen)
	case m.NumPuzzleIdentifiers < 1:
		return Metadata{}, fmt.Errorf("%s: num_puzzle_identifiers %d must be positive", name, m.NumPuzzleIdentifiers)
	case m.TotalGroups < 0 || m.TotalPuzzles < 0:
		return Metadata{}, fmt.Errorf("%s: negative totals", name)
	}
	return m, nil
}

// jsonPosition adds line and column to a JSON syntax error.
func jsonPosition(data []byte, err error) error {
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	}
	if off < 0 {
		return err
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Errorf("line %d, column %d (byte %d): %w", line, col, off, err)
}

// PythonFloat formats f as Python's repr(float) does: the shortest digits
// that round-trip, positional notation for exponents in [-4, 16), and a
// trailing ".0" on integral values.
func PythonFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddddde±XX
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	sign := ""
	if mant[0] == '-' {
		sign, mant = "-", mant[1:]
	}
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := fmt.Sprintf("%+03d", exp)
		return sign + m + "e" + es
	}
	if exp < 0 {
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	if len(digits) <= exp+1 {
		return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + digits[:exp+1] + "." + digits[exp+1:]
}

// PythonString renders s as Python's json.dumps does with its default
// ensure_ascii=True: non-ASCII characters become \uXXXX escapes.
func PythonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r >= 0x7f && r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r >= 0x10000:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
