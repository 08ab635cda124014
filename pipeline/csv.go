package pipeline

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// csvHeader is the header of the reference's Sudoku and Maze CSV files.
var csvHeader = []string{"source", "question", "answer", "rating"}

// puzzleCSV streams the rows of a source,question,answer,rating file,
// keeping each row's line number for error messages.
type puzzleCSV struct {
	path string
	f    *os.File
	r    *csv.Reader
}

// csvRow is one data row of a puzzle CSV.
type csvRow struct {
	Line                     int
	Source, Question, Answer string
	Rating                   string
}

func openPuzzleCSV(path string) (*puzzleCSV, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(f)
	r.FieldsPerRecord = len(csvHeader)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file (want the header %s)", path, strings.Join(csvHeader, ","))
		}
		return nil, csvError(path, err)
	}
	for i, h := range csvHeader {
		if strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff")) != h {
			f.Close()
			return nil, fmt.Errorf("%s:1: header %q, want %s", path, strings.Join(header, ","), strings.Join(csvHeader, ","))
		}
	}
	return &puzzleCSV{path: path, f: f, r: r}, nil
}

// next returns the next row; ok is false at the end of the file.
func (c *puzzleCSV) next() (row csvRow, ok bool, err error) {
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return row, false, nil
	}
	if err != nil {
		return row, false, csvError(c.path, err)
	}
	line, _ := c.r.FieldPos(0)
	return csvRow{Line: line, Source: rec[0], Question: rec[1], Answer: rec[2], Rating: rec[3]}, true, nil
}

func (c *puzzleCSV) Close() error { return c.f.Close() }

// csvError turns encoding/csv's error into "file:line: problem".
func csvError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return fmt.Errorf("%s:%d: wrong number of columns (want %d: %s)", path, pe.StartLine, len(csvHeader), strings.Join(csvHeader, ","))
		}
		return fmt.Errorf("%s:%d:%d: %w", path, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// rowError is a bad row: builders stop on it, or count and skip it with
// --skip-invalid.
type rowError struct {
	Path  string
	Line  int
	Field string
	Msg   string
}

func (e *rowError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.Path, e.Line, e.Field, e.Msg)
}
