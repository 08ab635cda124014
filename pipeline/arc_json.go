package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/tinyrecursion/trm/augment"
)

// arcGrid is one ARC grid: H rows of W colours 0..9, row-major.
type arcGrid struct {
	H, W  int
	Cells []byte
}

// arcExample is one input/output pair. OutputFirst records that "output"
// preceded "input" in the file, so test_puzzles.json can repeat the key
// order the reference keeps.
type arcExample struct {
	Input, Output arcGrid
	HasOutput     bool
	OutputFirst   bool
}

// arcSection is a task's "train" or "test" list.
type arcSection struct {
	Name     string
	Examples []arcExample
}

// arcTask is one task, its sections in file key order: the reference's
// example order follows the file (quirk Q-A2), and the ARC-AGI-1 files list
// "test" before "train".
type arcTask struct {
	ID       string
	Sections []arcSection
}

// section returns the task's section called name, or nil.
func (t *arcTask) section(name string) *arcSection {
	for i := range t.Sections {
		if t.Sections[i].Name == name {
			return &t.Sections[i]
		}
	}
	return nil
}

// arcSolution is one entry of a solutions file: the test outputs of a task.
type arcSolution struct {
	ID    string
	Grids []arcGrid
}

// jsonReader walks a JSON document token by token, keeping object key
// order (encoding/json's maps would lose it) and naming the file and byte
// offset in every syntax error.
type jsonReader struct {
	file string
	dec  *json.Decoder
}

func newJSONReader(file string, data []byte) *jsonReader {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return &jsonReader{file: file, dec: dec}
}

func (r *jsonReader) token() (json.Token, error) {
	tok, err := r.dec.Token()
	if err == nil {
		return tok, nil
	}
	off := r.dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%s: malformed JSON: unexpected end of file at byte %d", r.file, off)
	}
	return nil, fmt.Errorf("%s: malformed JSON at byte %d: %w", r.file, off, err)
}

// describe names a token for error messages.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "a list"
		}
		return fmt.Sprintf("%q", string(v))
	case string:
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + string(v)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

// open consumes the delimiter d ('{' or '['), or fails naming what it found.
func (r *jsonReader) open(d json.Delim, where, want string) error {
	tok, err := r.token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("%s: %s: expected %s, found %s (byte %d)", r.file, where, want, describe(tok), r.dec.InputOffset())
	}
	return nil
}

// key returns the next object key, or ok=false at the object's end.
func (r *jsonReader) key() (key string, ok bool, err error) {
	tok, err := r.token()
	if err != nil {
		return "", false, err
	}
	if tok == json.Delim('}') {
		return "", false, nil
	}
	// The decoder only yields strings in key position.
	return tok.(string), true, nil
}

// end consumes the closing delimiter of a list whose elements have all been
// read (the caller checked More).
func (r *jsonReader) end() error {
	_, err := r.token()
	return err
}

// finish checks that nothing follows the top-level value.
func (r *jsonReader) finish() error {
	if _, err := r.dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: malformed JSON: data after the top-level object at byte %d", r.file, r.dec.InputOffset())
	}
	return nil
}

// grid reads a list of equally long rows of colours 0..9, at most 30x30,
// the checks of the reference's arc_grid_to_np (spec 2.4); it also rejects
// empty grids, which the reference accepts as [[]] and then cannot encode.
// The decoder validates the grid's JSON as one raw value (token by token
// would decode every cell through reflection, 30x slower); scanGrid then
// reads that valid JSON.
func (r *jsonReader) grid(where string) (arcGrid, error) {
	off := r.dec.InputOffset()
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		return arcGrid{}, fmt.Errorf("%s: malformed JSON at byte %d: %w", r.file, off, err)
	}
	g, err := scanGrid(raw)
	if err != nil {
		return arcGrid{}, fmt.Errorf("%s: %s: %w", r.file, where, err)
	}
	return g, nil
}

// gridScanner reads a grid from syntactically valid JSON.
type gridScanner struct {
	b []byte
	i int
}

// peek skips whitespace and returns the next byte (0 at the end).
func (s *gridScanner) peek() byte {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
	if s.i == len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// kind names the JSON value starting with c.
func kind(c byte) string {
	switch c {
	case '[':
		return "a list"
	case '{':
		return "an object"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func scanGrid(raw []byte) (arcGrid, error) {
	s := gridScanner{b: raw}
	if c := s.peek(); c != '[' {
		return arcGrid{}, fmt.Errorf("expected a grid (a list of rows), found %s", kind(c))
	}
	s.i++
	var g arcGrid
	if s.peek() == ']' {
		return arcGrid{}, fmt.Errorf("grid is empty")
	}
	for {
		row := g.H
		if row == augment.ARCCanvas {
			return arcGrid{}, fmt.Errorf("more than %d rows", augment.ARCCanvas)
		}
		if c := s.peek(); c != '[' {
			return arcGrid{}, fmt.Errorf("row %d: expected a list of colours, found %s", row, kind(c))
		}
		s.i++
		if s.peek() == ']' {
			return arcGrid{}, fmt.Errorf("row %d is empty", row)
		}
		cols := 0
		for {
			if cols == augment.ARCCanvas {
				return arcGrid{}, fmt.Errorf("row %d has more than %d cells", row, augment.ARCCanvas)
			}
			c := s.peek()
			if c != '-' && (c < '0' || c > '9') {
				return arcGrid{}, fmt.Errorf("row %d column %d: %s is not a colour 0-9", row, cols, kind(c))
			}
			j := s.i
			for j < len(s.b) && strings.IndexByte("+-.0123456789eE", s.b[j]) >= 0 {
				j++
			}
			if j-s.i != 1 || c < '0' || c > '9' {
				return arcGrid{}, fmt.Errorf("row %d column %d: %s is not a colour 0-9", row, cols, s.b[s.i:j])
			}
			g.Cells = append(g.Cells, c-'0')
			cols++
			s.i = j
			if s.peek() == ']' {
				s.i++
				break
			}
			s.i++ // the comma: the decoder checked the syntax
		}
		if row == 0 {
			g.W = cols
		} else if cols != g.W {
			return arcGrid{}, fmt.Errorf("ragged grid: row %d has %d cells, row 0 has %d", row, cols, g.W)
		}
		g.H++
		if s.peek() == ']' {
			return g, nil
		}
		s.i++
	}
}

// parseARCChallenges decodes a challenges file: task id -> {"train": [...],
// "test": [...]} with examples {"input": grid, "output": grid}, the outputs
// of test examples optional. Tasks and keys keep their file order.
func parseARCChallenges(file string, data []byte) ([]*arcTask, error) {
	var tasks []*arcTask
	err := newJSONReader(file, data).eachTask(func(r *jsonReader, id string) error {
		if err := checkTaskID(id); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		task, err := r.task(id)
		if err != nil {
			return err
		}
		tasks = append(tasks, task)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tasks, nil
}

// eachTask reads a file's top-level object of tasks, calling read with the
// reader positioned at each task's value, and rejects a task id that
// appears twice.
func (r *jsonReader) eachTask(read func(r *jsonReader, id string) error) error {
	if err := r.open('{', "top level", "an object of tasks"); err != nil {
		return err
	}
	seen := map[string]bool{}
	for {
		id, ok, err := r.key()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if seen[id] {
			return fmt.Errorf("%s: task %s appears twice", r.file, id)
		}
		seen[id] = true
		if err := read(r, id); err != nil {
			return err
		}
	}
	return r.finish()
}

// checkTaskID rejects ids that would make puzzle names ambiguous: an
// augmented puzzle is named "<id>|||t<k>|||<colours>" and the evaluator
// splits names on "|||".
func checkTaskID(id string) error {
	if id == "" || strings.Contains(id, "|||") {
		return fmt.Errorf("task id %q must be non-empty and must not contain \"|||\"", id)
	}
	return nil
}

func (r *jsonReader) task(id string) (*arcTask, error) {
	where := "task " + id
	if err := r.open('{', where, `an object with "train" and "test"`); err != nil {
		return nil, err
	}
	task := &arcTask{ID: id}
	for {
		name, ok, err := r.key()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if name != "train" && name != "test" {
			return nil, fmt.Errorf("%s: %s: unknown key %q (only \"train\" and \"test\")", r.file, where, name)
		}
		if task.section(name) != nil {
			return nil, fmt.Errorf("%s: %s: key %q appears twice", r.file, where, name)
		}
		sec := arcSection{Name: name}
		if err := r.open('[', where+": "+name, "a list of examples"); err != nil {
			return nil, err
		}
		for r.dec.More() {
			ex, err := r.example(fmt.Sprintf("%s: %s example %d", where, name, len(sec.Examples)))
			if err != nil {
				return nil, err
			}
			if name == "train" && !ex.HasOutput {
				return nil, fmt.Errorf("%s: %s: train example %d has no \"output\"", r.file, where, len(sec.Examples))
			}
			sec.Examples = append(sec.Examples, ex)
		}
		if err := r.end(); err != nil {
			return nil, err
		}
		task.Sections = append(task.Sections, sec)
	}
	for _, name := range []string{"train", "test"} {
		if s := task.section(name); s == nil || len(s.Examples) == 0 {
			return nil, fmt.Errorf("%s: %s: no %s examples", r.file, where, name)
		}
	}
	return task, nil
}

func (r *jsonReader) example(where string) (arcExample, error) {
	if err := r.open('{', where, `an object with "input" and "output"`); err != nil {
		return arcExample{}, err
	}
	var ex arcExample
	hasInput := false
	for {
		name, ok, err := r.key()
		if err != nil {
			return arcExample{}, err
		}
		if !ok {
			break
		}
		switch {
		case name == "input" && !hasInput:
			if ex.Input, err = r.grid(where + ": input"); err != nil {
				return arcExample{}, err
			}
			hasInput = true
		case name == "output" && !ex.HasOutput:
			if ex.Output, err = r.grid(where + ": output"); err != nil {
				return arcExample{}, err
			}
			ex.HasOutput, ex.OutputFirst = true, !hasInput
		case name == "input" || name == "output":
			return arcExample{}, fmt.Errorf("%s: %s: key %q appears twice", r.file, where, name)
		default:
			return arcExample{}, fmt.Errorf("%s: %s: unknown key %q (only \"input\" and \"output\")", r.file, where, name)
		}
	}
	if !hasInput {
		return arcExample{}, fmt.Errorf("%s: %s: no \"input\"", r.file, where)
	}
	return ex, nil
}

// parseARCSolutions decodes a solutions file: task id -> list of the test
// output grids in order.
func parseARCSolutions(file string, data []byte) ([]arcSolution, error) {
	var sols []arcSolution
	err := newJSONReader(file, data).eachTask(func(r *jsonReader, id string) error {
		where := "task " + id
		if err := r.open('[', where, "a list of output grids"); err != nil {
			return err
		}
		sol := arcSolution{ID: id}
		for r.dec.More() {
			g, err := r.grid(fmt.Sprintf("%s: test example %d: output", where, len(sol.Grids)))
			if err != nil {
				return err
			}
			sol.Grids = append(sol.Grids, g)
		}
		if err := r.end(); err != nil {
			return err
		}
		sols = append(sols, sol)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sols, nil
}

// mergeARCSolutions sets the output of every test example from the
// solutions, as the reference does (spec 2.3). Unlike the reference, which
// ignores extra solutions and fails late on missing ones, both files must
// list the same tasks with the same number of test examples.
func mergeARCSolutions(tasks []*arcTask, sols []arcSolution, challengesFile, solutionsFile string) error {
	byID := make(map[string]*arcSolution, len(sols))
	for i := range sols {
		byID[sols[i].ID] = &sols[i]
	}
	for _, t := range tasks {
		sol, ok := byID[t.ID]
		if !ok {
			return fmt.Errorf("%s: task %s of %s has no solutions", solutionsFile, t.ID, challengesFile)
		}
		delete(byID, t.ID)
		test := t.section("test")
		if len(sol.Grids) != len(test.Examples) {
			return fmt.Errorf("%s: task %s: %d solution grids, but %s has %d test examples", solutionsFile, t.ID, len(sol.Grids), challengesFile, len(test.Examples))
		}
		for i, g := range sol.Grids {
			ex := &test.Examples[i]
			ex.Output = g
			ex.HasOutput = true
		}
	}
	for _, s := range sols {
		if _, extra := byID[s.ID]; extra {
			return fmt.Errorf("%s: task %s is not in %s", solutionsFile, s.ID, challengesFile)
		}
	}
	return nil
}

// dummyARCOutput is the reference's stand-in output for test examples of a
// subset without a solutions file.
var dummyARCOutput = arcGrid{H: 1, W: 1, Cells: []byte{0}}

// readARCSubset reads <prefix>_<subset>_challenges.json and merges
// <prefix>_<subset>_solutions.json into it; without a solutions file the
// test outputs become [[0]] and warn is told, as in the reference.
func readARCSubset(prefix, subset string, warn func(string)) ([]*arcTask, error) {
	challengesFile := prefix + "_" + subset + "_challenges.json"
	solutionsFile := prefix + "_" + subset + "_solutions.json"
	data, err := os.ReadFile(challengesFile)
	if err != nil {
		return nil, fmt.Errorf("subset %s: %w", subset, err)
	}
	tasks, err := parseARCChallenges(challengesFile, data)
	if err != nil {
		return nil, err
	}
	data, err = os.ReadFile(solutionsFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		warn(subset + " solutions not found, filling with dummy")
		for _, t := range tasks {
			test := t.section("test")
			for i := range test.Examples {
				if ex := &test.Examples[i]; !ex.HasOutput {
					ex.Output, ex.HasOutput = dummyARCOutput, true
				}
			}
		}
		return tasks, nil
	case err != nil:
		return nil, fmt.Errorf("subset %s: %w", subset, err)
	}
	sols, err := parseARCSolutions(solutionsFile, data)
	if err != nil {
		return nil, err
	}
	if err := mergeARCSolutions(tasks, sols, challengesFile, solutionsFile); err != nil {
		return nil, err
	}
	return tasks, nil
}
