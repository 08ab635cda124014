package cuda

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// goldenTensor is a tensor of spec/model-golden.json (copied to testdata).
type goldenTensor struct {
	Shape []int   `json:"shape"`
	DType string  `json:"dtype"`
	B64   string  `json:"b64"`
	Sum   float64 `json:"sum"`
}

func (g goldenTensor) f32(t *testing.T) []float32 {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(g.B64)
	if err != nil || g.DType != "<f4" {
		t.Fatalf("tensor %v: dtype %s, %v", g.Shape, g.DType, err)
	}
	return append([]float32(nil), View[float32](b)...)
}

func (g goldenTensor) i32(t *testing.T) []int32 {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(g.B64)
	if err != nil || g.DType != "<i4" {
		t.Fatalf("tensor %v: dtype %s, %v", g.Shape, g.DType, err)
	}
	return append([]int32(nil), View[int32](b)...)
}

type goldenVariant struct {
	StateDict map[string]goldenTensor `json:"state_dict"`
	Batch     map[string]goldenTensor `json:"batch"`
	TrainStep struct {
		Grads     map[string]goldenTensor `json:"grads_of_loss_over_global_batch_size"`
		SignSGD   goldenTensor            `json:"puzzle_emb_weights_after_signsgd_lr0.01_wd0.1"`
		AdamATan2 map[string]goldenTensor `json:"params_after_adam_atan2_step1_lr1e-3_b0.9_0.95_wd0.1"`
	} `json:"train_step"`
}

func loadGolden(t *testing.T) map[string]goldenVariant {
	t.Helper()
	b, err := os.ReadFile("testdata/model-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Variants map[string]goldenVariant `json:"variants"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("testdata/model-golden.json: %v", err)
	}
	if len(g.Variants) == 0 {
		t.Fatal("testdata/model-golden.json: no variants")
	}
	return g.Variants
}

// TestGoldenOptimizers binds the optimiser references, which the GPU check
// holds the adam_atan2 and sparse_signsgd kernels to, to the reference
// implementation's results: one AdamATan2 step from zero moments on every
// parameter, and one SignSGD step on the puzzle embeddings with the
// per-id gradient sum that GroupByID organises.
func TestGoldenOptimizers(t *testing.T) {
	for name, v := range loadGolden(t) {
		a := NewAdamScalars(1e-3, 0.9, 0.95, 0.1, 1)
		for pname, after := range v.TrainStep.AdamATan2 {
			p := v.StateDict[pname].f32(t)
			g := v.TrainStep.Grads[pname].f32(t)
			m, vv := make([]float32, len(p)), make([]float32, len(p))
			refAdamATan2(p, g, m, vv, a)
			if r := compare(p, after.f32(t), 1e-9, 1e-6); !r.OK() {
				t.Errorf("%s %s: AdamATan2 step differs from the golden: %+v", name, pname, r)
			}
		}

		w := v.StateDict["model.inner.puzzle_emb.weights"].f32(t)
		var G []float32
		for k, g := range v.TrainStep.Grads {
			if strings.HasPrefix(k, "model.inner.puzzle_emb.local_weights") {
				G = g.f32(t)
			}
		}
		ids := v.Batch["puzzle_identifiers"].i32(t)
		if G == nil || len(ids) == 0 {
			t.Fatalf("%s: golden lacks the puzzle-embedding gradient or ids", name)
		}
		D := len(G) / len(ids)
		order, offsets, uids := GroupByID(ids)
		gsum := make([]float32, len(uids)*D)
		for u := range uids {
			for k := offsets[u]; k < offsets[u+1]; k++ {
				for j := 0; j < D; j++ {
					gsum[u*D+j] += G[int(order[k])*D+j]
				}
			}
		}
		refSparseSignSGD(w, gsum, uids, D, 0.01, 0.1)
		if r := compare(w, v.TrainStep.SignSGD.f32(t), 1e-9, 1e-6); !r.OK() {
			t.Errorf("%s: SignSGD step differs from the golden: %+v", name, r)
		}
	}
}
