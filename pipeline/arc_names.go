package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"

	"github.com/tinyrecursion/trm/dataset"
)

// arcVariant is one augmentation of a task, the reference's aug(): dihedral
// transform Trans after recolouring colour c to Colours[c] (Colours[0] = 0,
// the rest a permutation of 1..9).
type arcVariant struct {
	Trans   uint8
	Colours [10]byte
}

// suffix is the variant's part of the puzzle name, "t<k>|||<colours>", the
// value of the aug column.
func (v arcVariant) suffix() string {
	b := make([]byte, 0, 15)
	b = append(b, 't', '0'+v.Trans, '|', '|', '|')
	for _, c := range v.Colours {
		b = append(b, '0'+c)
	}
	return string(b)
}

// arcPuzzleName is the reference's name of a variant of task id:
// "<id>|||t<k>|||<colours>", e.g. "8be77c9e|||t7|||0612397845".
func arcPuzzleName(id string, v arcVariant) string {
	return id + "|||" + v.suffix()
}

// arcGridHash is the reference's grid_hash: sha256 of the bytes H, W, then
// the cells row-major. buf holds H and W in its first two bytes followed by
// the cells, so callers can transform straight into it.
func arcGridHash(buf []byte) [sha256.Size]byte { return sha256.Sum256(buf) }

// arcPairHash is one example's contribution to the puzzle hash: input grid
// hash then output grid hash.
type arcPairHash [2 * sha256.Size]byte

// arcPuzzleHash is the reference's puzzle_hash over one puzzle's examples
// (all destinations): the strings hex(input hash) + "|" + hex(output hash),
// sorted, joined with "|", then sha256. The hex strings have equal length
// and "|" sits at the same place in all of them, so sorting the raw hash
// pairs gives the same order as sorting the strings. pairs is sorted in
// place; scratch is reused between calls.
func arcPuzzleHash(pairs []arcPairHash, scratch *[]byte) [sha256.Size]byte {
	slices.SortFunc(pairs, func(a, b arcPairHash) int {
		for i := range a {
			if a[i] != b[i] {
				return int(a[i]) - int(b[i])
			}
		}
		return 0
	})
	const hexPair = 2*2*sha256.Size + 1
	need := len(pairs)*(hexPair+1) - 1
	if cap(*scratch) < need {
		*scratch = make([]byte, need)
	}
	buf := (*scratch)[:need]
	k := 0
	for i, p := range pairs {
		if i > 0 {
			buf[k] = '|'
			k++
		}
		hex.Encode(buf[k:], p[:sha256.Size])
		k += 2 * sha256.Size
		buf[k] = '|'
		k++
		hex.Encode(buf[k:], p[sha256.Size:])
		k += 2 * sha256.Size
	}
	return sha256.Sum256(buf)
}

// appendPythonGrid appends g as Python's json.dumps writes a list of lists
// of ints: "[[0, 1], [2, 3]]".
func appendPythonGrid(b []byte, g arcGrid) []byte {
	b = append(b, '[')
	for r := range g.H {
		if r > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '[')
		for c, v := range g.Cells[r*g.W : (r+1)*g.W] {
			if c > 0 {
				b = append(b, ", "...)
			}
			b = strconv.AppendInt(b, int64(v), 10)
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendPythonTask appends the task object as the reference's json.dump
// writes it in test_puzzles.json: sections and example keys in file order,
// merged outputs included (quirk Q-A7).
func appendPythonTask(b []byte, t *arcTask) []byte {
	b = append(b, '{')
	for i, s := range t.Sections {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, dataset.PythonString(s.Name)...)
		b = append(b, ": ["...)
		for j, ex := range s.Examples {
			if j > 0 {
				b = append(b, ", "...)
			}
			b = append(b, '{')
			if ex.HasOutput && ex.OutputFirst {
				b = appendPythonGrid(append(b, `"output": `...), ex.Output)
				b = append(b, ", "...)
			}
			b = appendPythonGrid(append(b, `"input": `...), ex.Input)
			if ex.HasOutput && !ex.OutputFirst {
				b = appendPythonGrid(append(b, `, "output": `...), ex.Output)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}
