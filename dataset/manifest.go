package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Format identification written into every manifest.
const (
	FormatName    = "trm-dataset"
	FormatVersion = 1
)

// Manifest is manifest.json: what built the dataset and, per split, every
// shard with its size and checksum.
type Manifest struct {
	Format      string          `json:"format"`
	Version     int             `json:"version"`
	Builder     Builder         `json:"builder"`
	CodeVersion string          `json:"code_version"`
	Created     string          `json:"created,omitempty"`
	Splits      []SplitManifest `json:"splits"`
}

// Builder records how the dataset was made.
type Builder struct {
	Name   string          `json:"name"`
	Seed   int64           `json:"seed"`
	Config json.RawMessage `json:"config"`
}

// SplitManifest describes one split.
type SplitManifest struct {
	Name      string  `json:"name"`
	Rows      int64   `json:"rows"`
	Puzzles   int64   `json:"puzzles"`
	Groups    int64   `json:"groups"`
	GridShape [2]int  `json:"grid_shape"`
	Shards    []Shard `json:"shards"`
}

// Shard is one Parquet file of a split. Its rows are the groups
// FirstGroup .. FirstGroup+Groups-1 of the split, whole.
type Shard struct {
	File        string `json:"file"` // relative to the dataset directory
	Rows        int64  `json:"rows"`
	FirstRow    int64  `json:"first_row"`
	Groups      int64  `json:"groups"`
	FirstGroup  int64  `json:"first_group"`
	Puzzles     int64  `json:"puzzles"`
	FirstPuzzle int64  `json:"first_puzzle"`
	Bytes       int64  `json:"bytes"`
	SHA256      string `json:"sha256"`
}

// Split returns the named split's manifest entry.
func (m *Manifest) Split(name string) (*SplitManifest, bool) {
	for i := range m.Splits {
		if m.Splits[i].Name == name {
			return &m.Splits[i], true
		}
	}
	return nil, false
}

var (
	splitNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	sha256RE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ReadManifest reads and validates dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, "manifest.json")
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: not a trm dataset (no manifest.json): %w", dir, err)
		}
		return nil, err
	}
	return ParseManifest(path, data)
}

// ParseManifest decodes and validates a manifest; name is used in errors.
func ParseManifest(name string, data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, jsonPosition(data, err))
	}
	if m.Format != FormatName {
		return nil, fmt.Errorf("%s: format %q, want %q", name, m.Format, FormatName)
	}
	if m.Version != FormatVersion {
		return nil, fmt.Errorf("%s: format version %d is not supported (this trm reads version %d)", name, m.Version, FormatVersion)
	}
	seen := map[string]bool{}
	for _, s := range m.Splits {
		if !splitNameRE.MatchString(s.Name) {
			return nil, fmt.Errorf("%s: invalid split name %q", name, s.Name)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("%s: split %q listed twice", name, s.Name)
		}
		seen[s.Name] = true
		var rows, groups, puzzles int64
		for i, sh := range s.Shards {
			where := fmt.Sprintf("%s: split %s shard %d (%s)", name, s.Name, i, sh.File)
			if filepath.IsAbs(sh.File) || !filepath.IsLocal(sh.File) {
				return nil, fmt.Errorf("%s: file path must be relative and inside the dataset", where)
			}
			if !sha256RE.MatchString(sh.SHA256) {
				return nil, fmt.Errorf("%s: sha256 %q is not 64 lowercase hex digits", where, sh.SHA256)
			}
			if sh.FirstRow != rows || sh.FirstGroup != groups || sh.FirstPuzzle != puzzles {
				return nil, fmt.Errorf("%s: starts at row %d, group %d, puzzle %d; the previous shards end at %d, %d, %d",
					where, sh.FirstRow, sh.FirstGroup, sh.FirstPuzzle, rows, groups, puzzles)
			}
			if sh.Rows < 0 || sh.Groups < 0 || sh.Puzzles < 0 || sh.Bytes < 0 {
				return nil, fmt.Errorf("%s: negative count", where)
			}
			rows += sh.Rows
			groups += sh.Groups
			puzzles += sh.Puzzles
		}
		if rows != s.Rows || groups != s.Groups || puzzles != s.Puzzles {
			return nil, fmt.Errorf("%s: split %s totals (%d rows, %d groups, %d puzzles) disagree with its shards (%d, %d, %d)",
				name, s.Name, s.Rows, s.Groups, s.Puzzles, rows, groups, puzzles)
		}
	}
	return &m, nil
}
