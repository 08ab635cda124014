package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzCSV parses data as a puzzle CSV with keep; any failure must be an
// error naming the file, never a panic.
func fuzzCSV[T any](t *testing.T, data []byte, keep func(path string) func(csvRow) (T, bool, error)) {
	path := filepath.Join(t.TempDir(), "train.csv")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := streamCSV(path, keep(path))
	for err == nil {
		var ok bool
		_, ok, err = src.next()
		if !ok {
			break
		}
	}
	if err != nil && !strings.Contains(err.Error(), path) {
		t.Fatalf("error does not name the file: %v", err)
	}
}

func FuzzSudokuCSV(f *testing.F) {
	f.Add([]byte(sudokuHeader + "s,.23.56.89.56.89.23.89.23.56.34.67.91.67.91.34.91.34.67.45.78.12.78.12.45.12.45.78,123456789456789123789123456234567891567891234891234567345678912678912345912345678,3\n"))
	f.Add([]byte(sudokuHeader + "s,\"a\"\"b\",c,1\n"))
	f.Add([]byte("source,question\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCSV(t, data, func(path string) func(csvRow) (sudokuPuzzle, bool, error) {
			return func(row csvRow) (sudokuPuzzle, bool, error) {
				p, _, err := parseSudokuRow(path, row)
				if err == nil && !validParsedSudoku(p) {
					t.Fatalf("accepted an inconsistent row: %+v", row)
				}
				return p, err == nil, err
			}
		})
	})
}

func validParsedSudoku(p sudokuPuzzle) bool {
	for i, d := range p.Question {
		if d != 0 && d != p.Answer[i] {
			return false
		}
	}
	return true
}

func FuzzMazeCSV(f *testing.F) {
	f.Add([]byte(sudokuHeader + "m,#####S  ##  G###,#####Soo##  G###,0\n"))
	f.Add([]byte(sudokuHeader + "m,#S#,#S#,0\n"))
	f.Add([]byte(sudokuHeader + "m,,,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCSV(t, data, func(path string) func(csvRow) (mazePuzzle, bool, error) {
			side := -1
			return func(row csvRow) (mazePuzzle, bool, error) {
				if side < 0 {
					side = 0
					for side*side < len(row.Question) {
						side++
					}
				}
				p, err := parseMazeRow(path, row, side)
				if err == nil && (len(p.Question) != side*side || len(p.Answer) != side*side) {
					t.Fatalf("accepted a row of the wrong size")
				}
				return p, err == nil, err
			}
		})
	})
}
