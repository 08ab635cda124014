package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/nprand"
)

// arcDataPrefix returns the input prefix of the shipped ARC files
// (../shared/data/arc/arc-agi relative to the repository root), skipping the
// test when they are absent (a user's clone has no shared folder).
func arcDataPrefix(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("no go.mod above the test directory")
		}
		dir = parent
	}
	arc := filepath.Join(dir, "..", "shared", "data", "arc")
	if _, err := os.Stat(filepath.Join(arc, "arc-agi_concept_challenges.json")); err != nil {
		tb.Skipf("ARC data not found at %s (the repository's sibling shared/data/arc): %v", arc, err)
	}
	return filepath.Join(arc, "arc-agi")
}

// arcSplitDigest is what the golden file records of one split, computed
// from a built dataset's shards as the reference's .npy arrays would hold
// them.
type arcSplitDigest struct {
	rows                     int
	inputs, labels           hash.Hash // payload of all__inputs.npy / all__labels.npy
	identifiers              []int32   // all__puzzle_identifiers.npy
	puzzleIndices, groupIdxs []int32
	augs                     []string // per puzzle
	dataset                  string
}

func digestARCSplit(t *testing.T, dir, split string) *arcSplitDigest {
	t.Helper()
	ds, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sm, _, err := ds.Split(split)
	if err != nil {
		t.Fatal(err)
	}
	d := &arcSplitDigest{inputs: sha256.New(), labels: sha256.New(), puzzleIndices: []int32{0}, groupIdxs: []int32{0}}
	lastPuzzle, lastGroup := int32(-1), int32(-1)
	for _, sh := range sm.Shards {
		data, err := dataset.ReadShard(context.Background(), ds.ShardPath(sh), 900, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		r, err := data.Flatten(900)
		data.Release()
		if err != nil {
			t.Fatal(err)
		}
		d.inputs.Write(r.Inputs)
		d.labels.Write(r.Labels)
		for i := range r.Len() {
			if r.Puzzles[i] != lastPuzzle {
				if lastPuzzle >= 0 {
					d.puzzleIndices = append(d.puzzleIndices, int32(d.rows))
				}
				if r.Groups[i] != lastGroup && lastGroup >= 0 {
					d.groupIdxs = append(d.groupIdxs, lastPuzzle+1)
				}
				lastPuzzle, lastGroup = r.Puzzles[i], r.Groups[i]
				d.identifiers = append(d.identifiers, r.Identifiers[i])
				d.augs = append(d.augs, r.Augs[i])
			}
			d.rows++
		}
	}
	d.puzzleIndices = append(d.puzzleIndices, int32(d.rows))
	d.groupIdxs = append(d.groupIdxs, lastPuzzle+1)
	meta, err := os.ReadFile(filepath.Join(dir, split, "dataset.json"))
	if err != nil {
		t.Fatal(err)
	}
	d.dataset = string(meta)
	return d
}

// goldenNPY is one array entry of arc-builder-golden.json.
type goldenNPY struct {
	Dtype   string  `json:"dtype"`
	Shape   []int   `json:"shape"`
	Data    string  `json:"sha256_of_c_order_data"`
	File    string  `json:"sha256_of_npy_file"`
	First12 []int32 `json:"first_12"`
	Last3   []int32 `json:"last_3"`
	Text    string  `json:"text"`
}

type goldenARCRun struct {
	Config struct {
		Subsets  []string `json:"subsets"`
		TestSet  string   `json:"test_set_name"`
		Aug      int      `json:"num_aug"`
		Seed     int64    `json:"seed"`
		FilePref string   `json:"input_file_prefix"`
	} `json:"config"`
	NextRaw uint32                     `json:"next_raw_uint32_after_build"`
	Outputs map[string]json.RawMessage `json:"outputs"`
}

type goldenFile struct {
	Count   int      `json:"count"`
	First24 []string `json:"first_24"`
	Last3   []string `json:"last_3"`
	N       int      `json:"num_puzzles"`
	First   []string `json:"first_keys"`
	SHA256  string   `json:"sha256_of_file"`
}

func loadARCGolden(t *testing.T) []goldenARCRun {
	t.Helper()
	data, err := os.ReadFile("testdata/arc-builder-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Runs []goldenARCRun `json:"runs"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g.Runs
}

func sumHex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func int32Bytes(v []int32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(x))
	}
	return b
}

// npyFileHash is the sha256 of the .npy file np.save would write for an
// array with this header and payload hash state (header first).
func npyFileHash(t *testing.T, descr string, shape []int, payload []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := dataset.WriteNPYHeader(&buf, dataset.NPYHeader{Descr: descr, Shape: shape}); err != nil {
		t.Fatal(err)
	}
	buf.Write(payload)
	return sumHex(buf.Bytes())
}

// checkARCGoldenSplit compares a built split with the golden entries.
func checkARCGoldenSplit(t *testing.T, split string, d *arcSplitDigest, golden map[string]goldenNPY) {
	t.Helper()
	if got, want := d.dataset, golden["dataset.json"].Text; got != want {
		t.Errorf("%s/dataset.json:\n got %s\nwant %s", split, got, want)
	}
	for _, name := range []string{"all__inputs.npy", "all__labels.npy"} {
		g := golden[name]
		h := d.inputs
		if name == "all__labels.npy" {
			h = d.labels
		}
		if d.rows != g.Shape[0] {
			t.Errorf("%s/%s: %d rows, want %d", split, name, d.rows, g.Shape[0])
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != g.Data {
			t.Errorf("%s/%s: payload sha256 %s, want %s", split, name, got, g.Data)
		}
	}
	for name, v := range map[string][]int32{
		"all__puzzle_identifiers.npy": d.identifiers,
		"all__puzzle_indices.npy":     d.puzzleIndices,
		"all__group_indices.npy":      d.groupIdxs,
	} {
		g := golden[name]
		payload := int32Bytes(v)
		if len(v) != g.Shape[0] || len(v) < 12 {
			t.Errorf("%s/%s: %d entries, want %d", split, name, len(v), g.Shape[0])
			continue
		}
		if got := sumHex(payload); got != g.Data {
			t.Errorf("%s/%s: payload sha256 %s, want %s (first %v, want %v; last %v, want %v)", split, name, got, g.Data, v[:12], g.First12, v[len(v)-3:], g.Last3)
		}
		if got := npyFileHash(t, dataset.NPYInt32, []int{len(v)}, payload); got != g.File {
			t.Errorf("%s/%s: file sha256 %s, want %s", split, name, got, g.File)
		}
	}
}

// TestARCCompatGolden rebuilds every configuration of
// spec/arc-builder-golden.json with --compat numpy and compares every array,
// file and the numpy stream's position with the reference's.
func TestARCCompatGolden(t *testing.T) {
	prefix := arcDataPrefix(t)
	for i, run := range loadARCGolden(t) {
		name := strings.Join(run.Config.Subsets, "+") + "/aug" + strconv.Itoa(run.Config.Aug)
		t.Run(name, func(t *testing.T) {
			if testing.Short() && run.Config.Aug > 10 {
				t.Skip("aug 100 build skipped in -short mode")
			}
			dir := filepath.Join(t.TempDir(), "ds")
			var next uint32
			cfg := ARCConfig{
				InputPrefix: prefix, Subsets: run.Config.Subsets, TestSets: []string{run.Config.TestSet},
				Aug: run.Config.Aug, Seed: run.Config.Seed, IdentifiersStart: 1, Compat: CompatNumpy,
				numpyDone: func(rs *nprand.RandomState) { next = rs.Uint32() },
			}
			if _, err := BuildARC(context.Background(), cfg, Output{Dir: dir, Workers: 2, Quiet: true}); err != nil {
				t.Fatal(err)
			}
			if next != run.NextRaw {
				t.Errorf("run %d: next raw draw after the build %d, want %d", i, next, run.NextRaw)
			}
			for _, split := range []string{"train", "test"} {
				var golden map[string]goldenNPY
				if err := json.Unmarshal(run.Outputs[split], &golden); err != nil {
					t.Fatal(err)
				}
				checkARCGoldenSplit(t, split, digestARCSplit(t, dir, split), golden)
			}
			for _, file := range []string{"identifiers.json", "test_puzzles.json"} {
				var g goldenFile
				if err := json.Unmarshal(run.Outputs[file], &g); err != nil {
					t.Fatal(err)
				}
				data, err := os.ReadFile(filepath.Join(dir, file))
				if err != nil {
					t.Fatal(err)
				}
				if got := sumHex(data); got != g.SHA256 {
					t.Errorf("%s: sha256 %s, want %s (starts %.300s)", file, got, g.SHA256, data)
				}
			}
		})
	}
}
