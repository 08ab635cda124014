package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/augment"
)

func TestCropARC(t *testing.T) {
	tokens := make([]int32, 900)
	// A 3x4 block of colours bounded by EOS, as the spec's verified example.
	for r := range 3 {
		for c := range 4 {
			tokens[r*30+c] = int32(2 + (r+c)%10)
		}
		tokens[r*30+4] = 1
	}
	for c := range 4 {
		tokens[3*30+c] = 1
	}
	g := cropARC(tokens)
	if g.H != 3 || g.W != 4 || g.Cells[5] != 2 {
		t.Errorf("crop %dx%d %v, want 3x4", g.H, g.W, g.Cells)
	}
	for i := range tokens {
		tokens[i] = 11
	}
	if g := cropARC(tokens); g.H != 30 || g.W != 30 {
		t.Errorf("full canvas crops to %dx%d", g.H, g.W)
	}
	tokens[0] = 0
	if g := cropARC(tokens); g.H*g.W != 0 {
		t.Errorf("row starting with PAD crops to %dx%d, want empty", g.H, g.W)
	}
}

func TestInverseAug(t *testing.T) {
	// Rotating by 90 degrees (t1) and recolouring 1<->2 is undone.
	name, inv, err := inverseAug("abc|||t1|||0213456789")
	if err != nil || name != "abc" {
		t.Fatal(name, err)
	}
	// Original 2x3 grid [[1,2,3],[4,5,6]] after recolour (1->2, 2->1) and rot90:
	// recoloured [[2,1,3],[4,5,6]]; rot90 CCW -> [[3,6],[1,5],[2,4]].
	g := inv(grid{H: 3, W: 2, Cells: []byte{3, 6, 1, 5, 2, 4}})
	want := []byte{1, 2, 3, 4, 5, 6}
	if g.H != 2 || g.W != 3 || string(g.Cells) != string(want) {
		t.Errorf("inverse %dx%d %v, want 2x3 %v", g.H, g.W, g.Cells, want)
	}
	if _, _, err := inverseAug("abc|||x1|||0213456789"); err == nil {
		t.Error("bad transform accepted")
	}
}

func FuzzParseTestPuzzles(f *testing.F) {
	f.Add([]byte(`{"a": {"train": [], "test": [{"input": [[1, 2]], "output": [[3]]}]}}`))
	f.Add([]byte(`{"a": {"test": [{"input": [[1], [2, 3]]}]}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tasks, err := parseTestPuzzles(data)
		if err != nil {
			return
		}
		for _, task := range tasks {
			for _, p := range task.tests {
				if len(p.input.Cells) != p.input.H*p.input.W {
					t.Fatalf("grid %dx%d with %d cells", p.input.H, p.input.W, len(p.input.Cells))
				}
			}
		}
	})
}

func FuzzDecodeSafetensors(f *testing.F) {
	f.Add(encodeSafetensors([]stTensor{{"a", "F32", []int{2}, f32Bytes([]float32{1, 2})}}, map[string]string{"k": "v"}))
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Add([]byte("PK\x03\x04\x00\x00\x08\x00archive/data.pkl"))               // torch.save's zip
	f.Add([]byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20}) // a legacy torch.save pickle
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, _, err := decodeSafetensors("fuzz", data)
		if err != nil {
			return
		}
		for name, tt := range ts {
			n := dtypeSize[tt.DType]
			for _, d := range tt.Shape {
				n *= int64(d)
			}
			if int64(len(tt.Data)) != n {
				t.Fatalf("%s: %d bytes for %v %s", name, len(tt.Data), tt.Shape, tt.DType)
			}
		}
	})
}

// FuzzARCState feeds arbitrary bytes to the ARC evaluator's checkpointed
// votes: a corrupt or crafted state must be refused, and one that is
// accepted must score and write a submission without crashing, and
// re-checkpoint to the same bytes.
func FuzzARCState(f *testing.F) {
	newEval := func(t testing.TB) *ARC {
		tasks, err := parseTestPuzzles([]byte(`{"a": {"test": [{"input": [[1, 2]], "output": [[3]]}]}, "b": {"test": [{"input": [[4]]}]}}`))
		if err != nil {
			t.Fatal(err)
		}
		a := &ARC{SubmissionK: 2, PassKs: DefaultPassKs, Aggregated: true, identifiers: []string{"<blank>", "a", "b|||t1|||0213456789"}, tasks: tasks}
		a.reset()
		return a
	}
	ev := newEval(f)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = augment.ARCSeqLen
	for range 3 {
		ids := []int32{1, 2, 0}
		inputs, preds := make([]int32, 3*n), make([]int32, 3*n)
		for i := range inputs {
			inputs[i], preds[i] = int32(rng.IntN(12)), int32(2+rng.IntN(10))
			if i%n > 200 && rng.IntN(40) == 0 {
				preds[i] = 1 // an EOS ends the crop somewhere
			}
		}
		if err := ev.Update(inputs, preds, ids, []float64{0.5, -1, 0}); err != nil {
			f.Fatal(err)
		}
	}
	valid := marshalARCStates([]*ARC{ev})
	f.Add(valid)
	// A grid whose sides overflow to zero cells, voted for on task a's
	// test input (scoring it used to index past its cells).
	in := grid{1, 2, []byte{1, 2}}.hash()
	huge := strings.Repeat("ef", 32)
	f.Add(fmt.Appendf(nil, `[{"grids": [{"hash": "%s", "h": 4294967296, "w": 4294967296, "cells": ""}], "votes": [{"task": "a", "input": "%x", "hashes": ["%s"], "q": [1]}]}]`, huge, in, huge))
	f.Add([]byte(`[{"grids": [], "votes": [{"task": "a", "input": "` + strings.Repeat("ab", 32) + `", "hashes": ["` + strings.Repeat("cd", 32) + `"], "q": [1]}]}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := newEval(t)
		if err := unmarshalARCStates(data, []*ARC{a}); err != nil {
			return
		}
		if _, err := a.Result(t.TempDir()); err != nil {
			t.Fatalf("scoring an accepted state: %v", err)
		}
		again := marshalARCStates([]*ARC{a})
		b := newEval(t)
		if err := unmarshalARCStates(again, []*ARC{b}); err != nil {
			t.Fatalf("re-reading the state written from an accepted one: %v", err)
		}
		if !bytes.Equal(marshalARCStates([]*ARC{b}), again) {
			t.Fatal("an accepted state does not re-checkpoint to the same bytes")
		}
	})
}

// FuzzSetWeights feeds arbitrary bytes to the model-weights loader
// (safetensors or a torch.save state_dict, as load_checkpoint and trm eval
// --checkpoint take them): a corrupt file must be refused with an error
// naming it, never crash or leave the model half-loaded without saying so.
func FuzzSetWeights(f *testing.F) {
	src := tinyModel(f, 3)
	mc, _ := json.Marshal(src.Cfg)
	f.Add(encodeSafetensors(weightsTensors(src), nil), false)
	f.Add(encodeSafetensors(weightsTensors(src), map[string]string{"trm_model_config": string(mc)}), true)
	f.Add(encodeSafetensors(weightsTensors(tinyModel(f, 5)), nil), true) // another puzzle-embedding size
	if pt, err := os.ReadFile("../internal/torchsave/testdata/state_dict.pt"); err == nil {
		f.Add(pt, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, resize bool) {
		m := tinyModel(t, 3)
		err := setWeights("fuzz.safetensors", data, m, resize)
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz.safetensors") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

// FuzzRankMessages feeds arbitrary bytes to the decoders of what the ranks
// of a job send each other (a pair of byte strings, a rank's outcome):
// malformed input is an error, never a crash, and what decodes re-encodes
// to the same bytes.
func FuzzRankMessages(f *testing.F) {
	f.Add(packPair([]byte("state"), []byte("votes")))
	f.Add(packPair(nil, nil))
	f.Add(outcome([]byte("payload"), nil))
	f.Add(outcome(nil, errors.New("disk full")))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if a, b, err := unpackPair(data); err == nil && !bytes.Equal(packPair(a, b), data) {
			t.Fatalf("pair %q, %q re-encodes to other bytes", a, b)
		}
		p, err := readOutcome(1, data)
		switch {
		case err == nil && !bytes.Equal(outcome(p, nil), data):
			t.Fatalf("outcome %q re-encodes to other bytes", p)
		case err != nil && !strings.HasPrefix(err.Error(), "rank 1 "):
			t.Fatalf("error does not name the rank: %v", err)
		}
	})
}
