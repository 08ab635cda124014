package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// NumPy .npy files (format versions 1.0, 2.0 and 3.0), the layout of the
// reference datasets: a magic string, a version, the length of a header that
// is the text of a Python dict literal, then the C-order payload.
//
// Writing reproduces numpy 1.24's np.save byte for byte; reading accepts
// what numpy accepts for the three dtypes the reference uses, and names the
// file and the problem otherwise.

// NumPy dtype descriptors of the element types the reference files use.
const (
	NPYUint8 = "|u1"
	NPYInt32 = "<i4"
	NPYInt64 = "<i8"
)

// Errors a malformed or unsupported .npy file is reported with (wrapped with
// the file name and the detail).
var (
	ErrNPYMalformed   = errors.New("malformed .npy")
	ErrNPYUnsupported = errors.New("unsupported .npy")
	ErrNPYTruncated   = errors.New("truncated .npy")
)

const (
	npyMagic     = "\x93NUMPY"
	npyAlign     = 64 // np.save pads the header to a multiple of this
	npyGrowDigit = 21 // numpy's GROWTH_AXIS_MAX_DIGITS: spare header space
	// npyMaxHeader is numpy's default max_header_size: np.load refuses
	// longer headers, and so do we (it also bounds what a bad file makes
	// us allocate).
	npyMaxHeader = 10000
)

// NPYHeader describes the array in an .npy file: its dtype descriptor
// (NPYUint8, NPYInt32 or NPYInt64) and its shape, C order.
type NPYHeader struct {
	Descr string
	Shape []int
}

// npyItemSize returns the element size of a supported descriptor, or 0.
func npyItemSize(descr string) int {
	switch descr {
	case NPYUint8:
		return 1
	case NPYInt32:
		return 4
	case NPYInt64:
		return 8
	}
	return 0
}

// Elements returns the number of elements (1 for shape ()), or an error if
// a dimension is negative or the count overflows.
func (h NPYHeader) Elements() (int64, error) {
	n := int64(1)
	for _, d := range h.Shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %s", npyShapeRepr(h.Shape))
		}
		if d != 0 && n > math.MaxInt64/int64(d) {
			return 0, fmt.Errorf("shape %s has too many elements", npyShapeRepr(h.Shape))
		}
		n *= int64(d)
	}
	return n, nil
}

// PayloadBytes returns the size of the array data in bytes.
func (h NPYHeader) PayloadBytes() (int64, error) {
	size := npyItemSize(h.Descr)
	if size == 0 {
		return 0, fmt.Errorf("%w: dtype %q (supported: %s, %s, %s)", ErrNPYUnsupported, h.Descr, NPYUint8, NPYInt32, NPYInt64)
	}
	n, err := h.Elements()
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64/int64(size) {
		return 0, fmt.Errorf("shape %s of %s has too many bytes", npyShapeRepr(h.Shape), h.Descr)
	}
	return n * int64(size), nil
}

// npyShapeRepr formats a shape as Python's repr of a tuple: (), (3,), (3, 4).
func npyShapeRepr(shape []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// EncodeNPYHeader returns the bytes np.save (numpy 1.24) writes before the
// payload: magic, version 1.0 (2.0 if the header needs more than 65535
// bytes), header length, the sorted dict text, numpy's spare space for
// growing the first axis, and space padding plus '\n' up to a multiple of
// 64 bytes.
func EncodeNPYHeader(h NPYHeader) ([]byte, error) {
	if _, err := h.PayloadBytes(); err != nil {
		return nil, err
	}
	dict := "{'descr': '" + h.Descr + "', 'fortran_order': False, 'shape': " + npyShapeRepr(h.Shape) + ", }"
	if len(h.Shape) > 0 {
		dict += strings.Repeat(" ", max(0, npyGrowDigit-len(strconv.Itoa(h.Shape[0]))))
	}
	for _, v := range []struct {
		major   byte
		lenSize int
	}{{1, 2}, {2, 4}} {
		prefix := len(npyMagic) + 2 + v.lenSize
		textLen := len(dict) + 1 // the final '\n'
		// As numpy: an already aligned header still gets a full 64 spaces.
		pad := npyAlign - (prefix+textLen)%npyAlign
		total := textLen + pad
		if v.lenSize == 2 && total > math.MaxUint16 {
			continue
		}
		out := make([]byte, 0, prefix+total)
		out = append(out, npyMagic...)
		out = append(out, v.major, 0)
		if v.lenSize == 2 {
			out = binary.LittleEndian.AppendUint16(out, uint16(total))
		} else {
			out = binary.LittleEndian.AppendUint32(out, uint32(total))
		}
		out = append(out, dict...)
		out = append(out, bytes.Repeat([]byte{' '}, pad)...)
		return append(out, '\n'), nil
	}
	return nil, fmt.Errorf("npy header for shape %s too long", npyShapeRepr(h.Shape))
}

// WriteNPYHeader writes the header np.save would write for h.
func WriteNPYHeader(w io.Writer, h NPYHeader) error {
	hdr, err := EncodeNPYHeader(h)
	if err != nil {
		return err
	}
	_, err = w.Write(hdr)
	return err
}

// NPYElement is an element type with an .npy descriptor.
type NPYElement interface {
	uint8 | int32 | int64
}

// NPYDescr returns the descriptor numpy uses for T.
func NPYDescr[T NPYElement]() string {
	var zero T
	switch any(zero).(type) {
	case uint8:
		return NPYUint8
	case int32:
		return NPYInt32
	}
	return NPYInt64
}

// NPYWriter streams the payload of one .npy file after its header, so that
// arrays need not be in memory at once. It checks that exactly the bytes the
// header announces are written.
type NPYWriter struct {
	w       io.Writer
	header  NPYHeader
	left    int64  // payload bytes still expected
	scratch []byte // little-endian conversion buffer for typed writes
}

// NewNPYWriter writes h's header to w and returns a writer for the payload.
func NewNPYWriter(w io.Writer, h NPYHeader) (*NPYWriter, error) {
	n, err := h.PayloadBytes()
	if err != nil {
		return nil, err
	}
	if err := WriteNPYHeader(w, h); err != nil {
		return nil, err
	}
	return &NPYWriter{w: w, header: h, left: n}, nil
}

// Write writes raw payload bytes (little-endian elements, C order).
func (nw *NPYWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > nw.left {
		return 0, fmt.Errorf("npy payload for shape %s of %s: %d bytes more than the header announces",
			npyShapeRepr(nw.header.Shape), nw.header.Descr, int64(len(p))-nw.left)
	}
	n, err := nw.w.Write(p)
	nw.left -= int64(n)
	return n, err
}

// Close reports an error if fewer payload bytes were written than the
// header announces. It does not close the underlying writer.
func (nw *NPYWriter) Close() error {
	if nw.left != 0 {
		return fmt.Errorf("npy payload for shape %s of %s: %d bytes missing",
			npyShapeRepr(nw.header.Shape), nw.header.Descr, nw.left)
	}
	return nil
}

// WriteNPYValues appends elements to nw's payload, little-endian. T must
// match the header's dtype.
func WriteNPYValues[T NPYElement](nw *NPYWriter, vals []T) error {
	if d := NPYDescr[T](); d != nw.header.Descr {
		return fmt.Errorf("npy: writing %s values into a %s array", d, nw.header.Descr)
	}
	if u8, ok := any(vals).([]uint8); ok {
		_, err := nw.Write(u8)
		return err
	}
	const chunk = 1 << 16
	if nw.scratch == nil {
		nw.scratch = make([]byte, 0, chunk)
	}
	switch v := any(vals).(type) {
	case []int32:
		for len(v) > 0 {
			k := min(chunk/4, len(v))
			buf := nw.scratch[:0]
			for _, x := range v[:k] {
				buf = binary.LittleEndian.AppendUint32(buf, uint32(x))
			}
			if _, err := nw.Write(buf); err != nil {
				return err
			}
			v = v[k:]
		}
	case []int64:
		for len(v) > 0 {
			k := min(chunk/8, len(v))
			buf := nw.scratch[:0]
			for _, x := range v[:k] {
				buf = binary.LittleEndian.AppendUint64(buf, uint64(x))
			}
			if _, err := nw.Write(buf); err != nil {
				return err
			}
			v = v[k:]
		}
	}
	return nil
}

// WriteNPY writes a whole array as np.save(w, np.asarray(data).reshape(shape)).
func WriteNPY[T NPYElement](w io.Writer, shape []int, data []T) error {
	h := NPYHeader{Descr: NPYDescr[T](), Shape: shape}
	n, err := h.Elements()
	if err != nil {
		return err
	}
	if n != int64(len(data)) {
		return fmt.Errorf("npy: shape %s needs %d values, have %d", npyShapeRepr(shape), n, len(data))
	}
	nw, err := NewNPYWriter(w, h)
	if err != nil {
		return err
	}
	if err := WriteNPYValues(nw, data); err != nil {
		return err
	}
	return nw.Close()
}

// WriteNPYFile writes a whole array to path (created or truncated).
func WriteNPYFile[T NPYElement](path string, shape []int, data []T) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := WriteNPY(bw, shape, data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return bw.Flush()
}

// readNPYHeader reads and validates everything before the payload. It
// returns the header and the payload offset. name is used in errors.
func readNPYHeader(name string, r io.Reader) (NPYHeader, int64, error) {
	var pre [12]byte
	n, err := io.ReadFull(r, pre[:8])
	if m := min(n, len(npyMagic)); string(pre[:m]) != npyMagic[:m] {
		return NPYHeader{}, 0, fmt.Errorf("%s: %w: bad magic %q (want \"\\x93NUMPY\")", name, ErrNPYMalformed, pre[:m])
	}
	if err != nil {
		return NPYHeader{}, 0, fmt.Errorf("%s: %w: file ends after %d bytes, inside the magic and version", name, ErrNPYTruncated, n)
	}
	major, minor := pre[6], pre[7]
	var lenSize int
	switch {
	case major == 1 && minor == 0:
		lenSize = 2
	case (major == 2 || major == 3) && minor == 0:
		lenSize = 4
	default:
		return NPYHeader{}, 0, fmt.Errorf("%s: byte 6: %w: format version %d.%d (supported: 1.0, 2.0, 3.0)", name, ErrNPYUnsupported, major, minor)
	}
	if n, err := io.ReadFull(r, pre[8:8+lenSize]); err != nil {
		return NPYHeader{}, 0, fmt.Errorf("%s: %w: file ends after %d bytes, inside the header length", name, ErrNPYTruncated, 8+n)
	}
	var hlen uint32
	if lenSize == 2 {
		hlen = uint32(binary.LittleEndian.Uint16(pre[8:]))
	} else {
		hlen = binary.LittleEndian.Uint32(pre[8:])
	}
	start := int64(8 + lenSize)
	if hlen > npyMaxHeader {
		return NPYHeader{}, 0, fmt.Errorf("%s: byte 8: %w: header of %d bytes exceeds numpy's %d-byte limit", name, ErrNPYUnsupported, hlen, npyMaxHeader)
	}
	text := make([]byte, hlen)
	if n, err := io.ReadFull(r, text); err != nil {
		return NPYHeader{}, 0, fmt.Errorf("%s: %w: header announces %d bytes, file has %d", name, ErrNPYTruncated, hlen, n)
	}
	h, pe := parseNPYDict(text, major)
	if pe != nil {
		return NPYHeader{}, 0, fmt.Errorf("%s: byte %d: %w: header: %s", name, start+int64(pe.pos), pe.kind, pe.msg)
	}
	if _, err := h.PayloadBytes(); err != nil {
		return NPYHeader{}, 0, fmt.Errorf("%s: header: %w: %w", name, ErrNPYMalformed, err)
	}
	return h, start + int64(hlen), nil
}

// npyParseError is a problem at a byte offset in the header text; kind is
// ErrNPYMalformed or ErrNPYUnsupported.
type npyParseError struct {
	pos  int
	kind error
	msg  string
}

// npyParser reads the header dict: a Python literal of exactly the keys
// 'descr' (a string), 'fortran_order' (True/False) and 'shape' (a tuple of
// non-negative ints), followed only by whitespace.
type npyParser struct {
	s   []byte
	pos int
}

func (p *npyParser) fail(format string, args ...any) *npyParseError {
	return &npyParseError{pos: p.pos, kind: ErrNPYMalformed, msg: fmt.Sprintf(format, args...)}
}

func (p *npyParser) unsupported(format string, args ...any) *npyParseError {
	return &npyParseError{pos: p.pos, kind: ErrNPYUnsupported, msg: fmt.Sprintf(format, args...)}
}

func (p *npyParser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			p.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (p *npyParser) peek() byte {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *npyParser) expect(c byte, what string) *npyParseError {
	if p.peek() != c {
		return p.fail("expected %q %s, found %s", c, what, p.found())
	}
	p.pos++
	return nil
}

// found describes the text at the current position for error messages.
func (p *npyParser) found() string {
	if p.pos >= len(p.s) {
		return "end of header"
	}
	end := min(p.pos+12, len(p.s))
	return strconv.Quote(string(p.s[p.pos:end]))
}

func (p *npyParser) str() (string, *npyParseError) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.fail("expected a string, found %s", p.found())
	}
	start := p.pos
	p.pos++
	for p.pos < len(p.s) {
		switch c := p.s[p.pos]; {
		case c == q:
			p.pos++
			return string(p.s[start+1 : p.pos-1]), nil
		case c == '\\' || c == '\n' || c >= 0x80:
			return "", p.fail("unsupported character %q in string", c)
		}
		p.pos++
	}
	p.pos = start
	return "", p.fail("unterminated string")
}

func (p *npyParser) boolean() (bool, *npyParseError) {
	p.skipSpace()
	for _, v := range []struct {
		word string
		val  bool
	}{{"True", true}, {"False", false}} {
		if bytes.HasPrefix(p.s[p.pos:], []byte(v.word)) {
			end := p.pos + len(v.word)
			if end == len(p.s) || !isNPYIdentByte(p.s[end]) {
				p.pos = end
				return v.val, nil
			}
		}
	}
	return false, p.fail("expected True or False, found %s", p.found())
}

func isNPYIdentByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func (p *npyParser) integer() (int, *npyParseError) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && '0' <= p.s[p.pos] && p.s[p.pos] <= '9' {
		p.pos++
	}
	digits := string(p.s[start:p.pos])
	if digits == "" {
		return 0, p.fail("expected a non-negative integer, found %s", p.found())
	}
	if p.pos < len(p.s) && isNPYIdentByte(p.s[p.pos]) {
		return 0, p.fail("malformed integer")
	}
	p.pos = start // errors below point at the number
	if len(digits) > 1 && digits[0] == '0' {
		return 0, p.fail("integer %s has a leading zero", digits)
	}
	v, err := strconv.Atoi(digits)
	if err != nil {
		return 0, p.fail("integer %s out of range", digits)
	}
	p.pos += len(digits)
	return v, nil
}

// shape parses a tuple: (), (n,), (a, b) or (a, b,); (n) is not a tuple.
func (p *npyParser) shape() ([]int, *npyParseError) {
	if err := p.expect('(', "to open the shape tuple"); err != nil {
		return nil, err
	}
	shape := []int{}
	for {
		if p.peek() == ')' {
			p.pos++
			break
		}
		v, err := p.integer()
		if err != nil {
			return nil, err
		}
		shape = append(shape, v)
		switch p.peek() {
		case ',':
			p.pos++
			continue
		case ')':
			if len(shape) == 1 {
				return nil, p.fail("(%d) is not a tuple: a 1-d shape is written (%d,)", v, v)
			}
			p.pos++
		default:
			return nil, p.fail("expected ',' or ')' in shape, found %s", p.found())
		}
		break
	}
	return shape, nil
}

func parseNPYDict(text []byte, major byte) (NPYHeader, *npyParseError) {
	if major < 3 {
		// Versions 1 and 2 are latin-1; anything beyond ASCII cannot occur
		// in the three keys and dtypes we accept, so reject it early.
		if i := bytes.IndexFunc(text, func(r rune) bool { return r >= 0x80 }); i >= 0 {
			return NPYHeader{}, &npyParseError{pos: i, kind: ErrNPYMalformed, msg: "non-ASCII byte in header"}
		}
	}
	p := &npyParser{s: text}
	var h NPYHeader
	var fortran bool
	seen := map[string]bool{}
	fortranPos := 0
	if err := p.expect('{', "to open the header dict"); err != nil {
		return h, err
	}
	for p.peek() != '}' {
		keyPos := p.pos
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			p.pos = keyPos
			return h, p.fail("duplicate key %q", key)
		}
		seen[key] = true
		if err := p.expect(':', "after key "+strconv.Quote(key)); err != nil {
			return h, err
		}
		switch key {
		case "descr":
			p.skipSpace()
			descrPos := p.pos
			if h.Descr, err = p.str(); err != nil {
				return h, err
			}
			if npyItemSize(h.Descr) == 0 {
				p.pos = descrPos
				return h, p.unsupported("dtype %q (supported: %s, %s, %s)", h.Descr, NPYUint8, NPYInt32, NPYInt64)
			}
		case "fortran_order":
			p.skipSpace()
			fortranPos = p.pos
			if fortran, err = p.boolean(); err != nil {
				return h, err
			}
		case "shape":
			if h.Shape, err = p.shape(); err != nil {
				return h, err
			}
		default:
			p.pos = keyPos
			return h, p.fail("unexpected key %q (want 'descr', 'fortran_order', 'shape')", key)
		}
		if p.peek() == ',' {
			p.pos++
		} else if p.peek() != '}' {
			return h, p.fail("expected ',' or '}' after the value of %q, found %s", key, p.found())
		}
	}
	p.pos++
	if p.peek() != 0 {
		return h, p.fail("unexpected text after the header dict: %s", p.found())
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, p.fail("key %q missing", k)
		}
	}
	if fortran {
		p.pos = fortranPos
		return h, p.unsupported("fortran_order True (only C order is supported)")
	}
	return h, nil
}

// NPYFile is an open .npy file positioned at its payload; Read returns the
// payload bytes (little-endian elements, C order) and then io.EOF.
type NPYFile struct {
	Header NPYHeader
	// Offset is where the payload starts in the file.
	Offset int64
	path   string
	f      *os.File
	r      io.Reader
	left   int64
}

// OpenNPY opens path, validates its header, and checks that the file holds
// exactly the payload the header announces (a truncated payload and
// trailing bytes are both errors).
func OpenNPY(path string) (*NPYFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	nf, err := openNPY(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return nf, nil
}

func openNPY(path string, f *os.File) (*NPYFile, error) {
	br := bufio.NewReaderSize(f, 1<<16)
	h, off, err := readNPYHeader(path, br)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	want, _ := h.PayloadBytes() // validated by readNPYHeader
	if err := checkNPYPayloadSize(path, h, st.Size()-off, want); err != nil {
		return nil, err
	}
	return &NPYFile{Header: h, Offset: off, path: path, f: f, r: br, left: want}, nil
}

// checkNPYPayloadSize compares the bytes after the header with the size the
// header announces.
func checkNPYPayloadSize(name string, h NPYHeader, have, want int64) error {
	switch {
	case have < want:
		return fmt.Errorf("%s: %w: payload has %d bytes, shape %s of %s needs %d",
			name, ErrNPYTruncated, have, npyShapeRepr(h.Shape), h.Descr, want)
	case have > want:
		return fmt.Errorf("%s: %w: %d trailing bytes after the %d-byte payload of shape %s of %s",
			name, ErrNPYMalformed, have-want, want, npyShapeRepr(h.Shape), h.Descr)
	}
	return nil
}

// Read reads payload bytes.
func (nf *NPYFile) Read(p []byte) (int, error) {
	if nf.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > nf.left {
		p = p[:nf.left]
	}
	n, err := nf.r.Read(p)
	nf.left -= int64(n)
	if err == io.EOF && nf.left > 0 {
		// The file shrank after OpenNPY checked its size.
		return n, fmt.Errorf("%s: %w: payload ends %d bytes early", nf.path, ErrNPYTruncated, nf.left)
	}
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("%s: %w", nf.path, err)
	}
	return n, nil
}

// Close closes the file.
func (nf *NPYFile) Close() error { return nf.f.Close() }

// ReadNPY reads a whole .npy file: its header and raw payload.
func ReadNPY(path string) (NPYHeader, []byte, error) {
	nf, err := OpenNPY(path)
	if err != nil {
		return NPYHeader{}, nil, err
	}
	defer nf.Close()
	payload := make([]byte, nf.left)
	if _, err := io.ReadFull(nf, payload); err != nil {
		return NPYHeader{}, nil, err
	}
	return nf.Header, payload, nil
}

// ReadNPYFrom reads a whole .npy stream from r; name identifies it in
// errors. Memory grows with the data actually present, not with the size a
// header claims.
func ReadNPYFrom(name string, r io.Reader) (NPYHeader, []byte, error) {
	h, _, err := readNPYHeader(name, r)
	if err != nil {
		return NPYHeader{}, nil, err
	}
	want, _ := h.PayloadBytes()
	limit := want
	if limit < math.MaxInt64 {
		limit++ // one more byte reveals trailing data
	}
	payload, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return NPYHeader{}, nil, fmt.Errorf("%s: %w", name, err)
	}
	have := int64(len(payload))
	if have > want {
		// Count the rest for the message.
		extra, err := io.Copy(io.Discard, r)
		if err != nil {
			return NPYHeader{}, nil, fmt.Errorf("%s: %w", name, err)
		}
		have += extra
	}
	if err := checkNPYPayloadSize(name, h, have, want); err != nil {
		return NPYHeader{}, nil, err
	}
	return h, payload, nil
}

// DecodeNPY converts a payload read with ReadNPY to values of type T, which
// must match the header's dtype.
func DecodeNPY[T NPYElement](h NPYHeader, payload []byte) ([]T, error) {
	if d := NPYDescr[T](); d != h.Descr {
		return nil, fmt.Errorf("npy: array is %s, not %s", h.Descr, d)
	}
	want, err := h.PayloadBytes()
	if err != nil {
		return nil, err
	}
	if want != int64(len(payload)) {
		return nil, fmt.Errorf("npy: payload of %d bytes for shape %s of %s, want %d",
			len(payload), npyShapeRepr(h.Shape), h.Descr, want)
	}
	size := npyItemSize(h.Descr)
	out := make([]T, len(payload)/size)
	switch o := any(out).(type) {
	case []uint8:
		copy(o, payload)
	case []int32:
		for i := range o {
			o[i] = int32(binary.LittleEndian.Uint32(payload[4*i:]))
		}
	case []int64:
		for i := range o {
			o[i] = int64(binary.LittleEndian.Uint64(payload[8*i:]))
		}
	}
	return out, nil
}

// ReadNPYAs reads a whole .npy file whose dtype is T's, returning its shape
// and values.
func ReadNPYAs[T NPYElement](path string) ([]int, []T, error) {
	h, payload, err := ReadNPY(path)
	if err != nil {
		return nil, nil, err
	}
	vals, err := DecodeNPY[T](h, payload)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return h.Shape, vals, nil
}
