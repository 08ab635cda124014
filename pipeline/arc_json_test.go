package pipeline

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const arcSampleTask = `{"t1": {"test": [{"input": [[1, 2], [3, 4]]}],
 "train": [{"input": [[0]], "output": [[9, 9, 9]]}, {"output": [[5]], "input": [[6], [7]]}]},
 "t2": {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]], "output": [[4]]}]}}`

func TestParseARCChallengesKeepsOrder(t *testing.T) {
	tasks, err := parseARCChallenges("c.json", []byte(arcSampleTask))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 || tasks[0].ID != "t1" || tasks[1].ID != "t2" {
		t.Fatalf("tasks %v", tasks)
	}
	t1 := tasks[0]
	if t1.Sections[0].Name != "test" || t1.Sections[1].Name != "train" {
		t.Errorf("t1 sections %q, %q: file order is test, train", t1.Sections[0].Name, t1.Sections[1].Name)
	}
	want := arcExample{Input: arcGrid{H: 2, W: 1, Cells: []byte{6, 7}}, Output: arcGrid{H: 1, W: 1, Cells: []byte{5}}, HasOutput: true, OutputFirst: true}
	if got := t1.Sections[1].Examples[1]; !reflect.DeepEqual(got, want) {
		t.Errorf("second train example %+v, want %+v", got, want)
	}
	if ex := t1.Sections[0].Examples[0]; ex.HasOutput || ex.Input.H != 2 || ex.Input.W != 2 || string(ex.Input.Cells) != "\x01\x02\x03\x04" {
		t.Errorf("test example %+v", ex)
	}
}

func TestParseARCChallengesErrors(t *testing.T) {
	task := func(train, test string) string {
		return `{"abc": {"train": [` + train + `], "test": [` + test + `]}}`
	}
	ok := `{"input": [[1]], "output": [[1]]}`
	for _, c := range []struct{ doc, want string }{
		{`{"abc": {"train": [`, "c.json: malformed JSON: unexpected end of file at byte"},
		{`{"abc": {"train": [}}`, "c.json: malformed JSON at byte 19"},
		{`[1]`, "top level: expected an object of tasks, found a list"},
		{`{"abc": 5}`, "task abc: expected an object"},
		{task(`{"input": [[1, 2], [3]], "output": [[1]]}`, ok), "task abc: train example 0: input: ragged grid: row 1 has 1 cells, row 0 has 2"},
		{task(ok, `{"input": []}`), "task abc: test example 0: input: grid is empty"},
		{task(ok, `{"input": [[]]}`), "test example 0: input: row 0 is empty"},
		{task(ok, `{"input": [[1], 2]}`), "input: row 1: expected a list of colours, found a number"},
		{task(ok, `{"input": 7}`), "input: expected a grid (a list of rows), found a number"},
		{task(ok, `{"input": [[1, 10]]}`), "input: row 0 column 1: 10 is not a colour 0-9"},
		{task(ok, `{"input": [[-1]]}`), "row 0 column 0: -1 is not a colour 0-9"},
		{task(ok, `{"input": [[1.0]]}`), "row 0 column 0: 1.0 is not a colour 0-9"},
		{task(ok, `{"input": [["1"]]}`), "row 0 column 0: a string is not a colour 0-9"},
		{task(ok, `{"input": [[null]]}`), "row 0 column 0: null is not a colour 0-9"},
		{task(ok, `{"input": [`+strings.Repeat("[1],", 30)+`[1]]}`), "input: more than 30 rows"},
		{task(ok, `{"input": [[`+strings.Repeat("1,", 30)+`1]]}`), "input: row 0 has more than 30 cells"},
		{task(ok, `{"input": [[1]], "output": [[1]], "note": 1}`), `test example 0: unknown key "note"`},
		{task(ok, `{"output": [[1]]}`), `test example 0: no "input"`},
		{task(ok, `{"input": [[1]], "input": [[1]]}`), `test example 0: key "input" appears twice`},
		{task(`{"input": [[1]]}`, ok), `task abc: train example 0 has no "output"`},
		{task(ok, ``), "task abc: no test examples"},
		{`{"abc": {"test": [` + ok + `]}}`, "task abc: no train examples"},
		{`{"abc": {"train": [], "test": [], "extra": []}}`, `task abc: unknown key "extra"`},
		{`{"abc": {"train": [], "train": []}}`, `task abc: key "train" appears twice`},
		{`{"abc": {"train": [` + ok + `], "test": [` + ok + `]}, "abc": {}}`, "task abc appears twice"},
		{`{"a|||t1": {}}`, `task id "a|||t1" must be non-empty and must not contain "|||"`},
		{task(ok, ok) + ` {}`, "data after the top-level object"},
	} {
		_, err := parseARCChallenges("c.json", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.60s...: got error %v, want it to contain %q", c.doc, err, c.want)
		}
	}
}

func TestMergeARCSolutions(t *testing.T) {
	tasks, err := parseARCChallenges("c.json", []byte(arcSampleTask))
	if err != nil {
		t.Fatal(err)
	}
	sols, err := parseARCSolutions("s.json", []byte(`{"t2": [[[8]]], "t1": [[[1, 1], [2, 2]]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := mergeARCSolutions(tasks, sols, "c.json", "s.json"); err != nil {
		t.Fatal(err)
	}
	if ex := tasks[0].Sections[0].Examples[0]; !ex.HasOutput || ex.OutputFirst || string(ex.Output.Cells) != "\x01\x01\x02\x02" {
		t.Errorf("t1 test example after merge: %+v", ex)
	}
	if ex := tasks[1].section("test").Examples[0]; string(ex.Output.Cells) != "\x08" {
		t.Errorf("t2's output %v was not replaced by the solution", ex.Output.Cells)
	}

	for _, c := range []struct{ sols, want string }{
		{`{"t1": [[[1]]]}`, "s.json: task t2 of c.json has no solutions"},
		{`{"t1": [[[1]], [[2]]], "t2": [[[1]]]}`, "s.json: task t1: 2 solution grids, but c.json has 1 test examples"},
		{`{"t1": [[[1]]], "t2": [[[1]]], "t3": [[[1]]]}`, "s.json: task t3 is not in c.json"},
		{`{"t1": [[[1, 2], [1]]]}`, "s.json: task t1: test example 0: output: ragged grid"},
		{`{"t1": [[[1]]], "t1": []}`, "s.json: task t1 appears twice"},
		{`{"t1": {}}`, "s.json: task t1: expected a list of output grids, found an object"},
	} {
		tasks, _ := parseARCChallenges("c.json", []byte(arcSampleTask))
		sols, err := parseARCSolutions("s.json", []byte(c.sols))
		if err == nil {
			err = mergeARCSolutions(tasks, sols, "c.json", "s.json")
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want it to contain %q", c.sols, err, c.want)
		}
	}
}

// writeARCSubset writes a challenges (and, unless solutions is empty,
// solutions) file for subset under dir.
func writeARCSubset(t *testing.T, dir, subset, challenges, solutions string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "x_"+subset+"_challenges.json"), []byte(challenges), 0o644); err != nil {
		t.Fatal(err)
	}
	if solutions != "" {
		if err := os.WriteFile(filepath.Join(dir, "x_"+subset+"_solutions.json"), []byte(solutions), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadARCSubsetWithoutSolutions(t *testing.T) {
	dir := t.TempDir()
	writeARCSubset(t, dir, "hidden", arcSampleTask, "")
	var warnings []string
	tasks, err := readARCSubset(filepath.Join(dir, "x"), "hidden", func(s string) { warnings = append(warnings, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || warnings[0] != "hidden solutions not found, filling with dummy" {
		t.Errorf("warnings %q", warnings)
	}
	if ex := tasks[0].section("test").Examples[0]; !ex.HasOutput || !reflect.DeepEqual(ex.Output, dummyARCOutput) {
		t.Errorf("test output without solutions: %+v, want [[0]]", ex.Output)
	}
	if ex := tasks[1].section("test").Examples[0]; string(ex.Output.Cells) != "\x04" {
		t.Errorf("an output given in the challenges was replaced: %v", ex.Output.Cells)
	}
	if _, err := readARCSubset(filepath.Join(dir, "x"), "missing", func(string) {}); err == nil || !strings.Contains(err.Error(), "x_missing_challenges.json") {
		t.Errorf("missing challenges file: %v", err)
	}
}

func TestLoadARCRejectsDuplicateTasks(t *testing.T) {
	dir := t.TempDir()
	writeARCSubset(t, dir, "a", arcSampleTask, "")
	writeARCSubset(t, dir, "b", `{"t2": {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]]}]}}`, "")
	cfg := ARCConfig{InputPrefix: filepath.Join(dir, "x"), Subsets: []string{"a", "b"}, TestSets: []string{"b"}, IdentifiersStart: 1}
	_, _, err := loadARC(&cfg)
	if err == nil || !strings.Contains(err.Error(), "task t2 is in both subsets a and b") {
		t.Errorf("got %v", err)
	}
}

func TestAppendPythonTask(t *testing.T) {
	tasks, err := parseARCChallenges("c.json", []byte(arcSampleTask))
	if err != nil {
		t.Fatal(err)
	}
	got := string(appendPythonTask(nil, tasks[0]))
	want := `{"test": [{"input": [[1, 2], [3, 4]]}], "train": [{"input": [[0]], "output": [[9, 9, 9]]}, {"output": [[5]], "input": [[6], [7]]}]}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// FuzzParseARCChallenges feeds arbitrary bytes to the challenges reader: it
// must not panic, and whatever it accepts must satisfy the grid rules and
// survive a round trip through the test_puzzles.json writer.
func FuzzParseARCChallenges(f *testing.F) {
	f.Add([]byte(arcSampleTask))
	f.Add([]byte(`{"a": {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]]}]}}`))
	f.Add([]byte(`{"a": {"train": [{"input": [[1, 2], [3]]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tasks, err := parseARCChallenges("f.json", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.json: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, task := range tasks {
			for _, name := range []string{"train", "test"} {
				if s := task.section(name); s == nil || len(s.Examples) == 0 {
					t.Fatalf("task %s accepted without %s examples", task.ID, name)
				}
			}
			for _, s := range task.Sections {
				for _, ex := range s.Examples {
					grids := []arcGrid{ex.Input}
					if ex.HasOutput {
						grids = append(grids, ex.Output)
					}
					for _, g := range grids {
						if g.H < 1 || g.H > 30 || g.W < 1 || g.W > 30 || len(g.Cells) != g.H*g.W {
							t.Fatalf("task %s: accepted a %dx%d grid with %d cells", task.ID, g.H, g.W, len(g.Cells))
						}
						for _, v := range g.Cells {
							if v > 9 {
								t.Fatalf("task %s: accepted colour %d", task.ID, v)
							}
						}
					}
				}
			}
		}
		items := make([]*arcItem, len(tasks))
		for i, task := range tasks {
			items[i] = &arcItem{task: task}
		}
		again, err := parseARCChallenges("round-trip", arcTestPuzzlesJSON(items))
		if err != nil {
			t.Fatalf("re-reading what was accepted: %v", err)
		}
		if !reflect.DeepEqual(again, tasks) {
			t.Fatalf("round trip changed the tasks")
		}
	})
}

// FuzzParseARCSolutions checks the solutions reader never panics and only
// accepts valid grids.
func FuzzParseARCSolutions(f *testing.F) {
	f.Add([]byte(`{"t2": [[[8]]], "t1": [[[1, 1], [2, 2]]]}`))
	f.Add([]byte(`{"t1": [[[1, 2], [1]]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sols, err := parseARCSolutions("s.json", data)
		if err != nil {
			return
		}
		for _, s := range sols {
			for _, g := range s.Grids {
				if g.H < 1 || g.H > 30 || g.W < 1 || g.W > 30 || len(g.Cells) != g.H*g.W {
					t.Fatalf("task %s: accepted a %dx%d grid with %d cells", s.ID, g.H, g.W, len(g.Cells))
				}
			}
		}
	})
}
