package model

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/tinyrecursion/trm/kernels"
	"github.com/tinyrecursion/trm/kernels/cpu"
)

// The golden file is spec/model-golden.json, copied verbatim: a tiny fp32
// TRM run through the reference code (both variants).
const goldenPath = "testdata/model-golden.json"

type goldenTensor struct {
	Shape []int   `json:"shape"`
	Dtype string  `json:"dtype"`
	B64   string  `json:"b64"`
	Sum   float64 `json:"sum"`
}

// floats decodes a tensor of any numeric dtype into float64 values.
func (g goldenTensor) floats(t *testing.T) []float64 {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(g.B64)
	if err != nil {
		t.Fatalf("golden tensor: %v", err)
	}
	var out []float64
	switch g.Dtype {
	case "<f4":
		for i := 0; i+4 <= len(raw); i += 4 {
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))))
		}
	case "<i4":
		for i := 0; i+4 <= len(raw); i += 4 {
			out = append(out, float64(int32(binary.LittleEndian.Uint32(raw[i:]))))
		}
	case "<i8":
		for i := 0; i+8 <= len(raw); i += 8 {
			out = append(out, float64(int64(binary.LittleEndian.Uint64(raw[i:]))))
		}
	case "u1", "|u1", "|b1", "b1":
		for _, b := range raw {
			out = append(out, float64(b))
		}
	default:
		t.Fatalf("golden dtype %q", g.Dtype)
	}
	if n := numel(g.Shape); n != len(out) {
		t.Fatalf("golden tensor has %d values for shape %v", len(out), g.Shape)
	}
	return out
}

func (g goldenTensor) ints(t *testing.T) []int32 {
	f := g.floats(t)
	out := make([]int32, len(f))
	for i, v := range f {
		out[i] = int32(v)
	}
	return out
}

type goldenMetrics struct {
	Count         float64 `json:"count"`
	Accuracy      float64 `json:"accuracy"`
	ExactAccuracy float64 `json:"exact_accuracy"`
	QHaltAccuracy float64 `json:"q_halt_accuracy"`
	Steps         float64 `json:"steps"`
	LMLoss        float64 `json:"lm_loss"`
	QHaltLoss     float64 `json:"q_halt_loss"`
}

type goldenStep struct {
	Loss            float64       `json:"loss"`
	Metrics         goldenMetrics `json:"metrics"`
	Logits          goldenTensor  `json:"logits"`
	QHaltLogits     goldenTensor  `json:"q_halt_logits"`
	QContinueLogits goldenTensor  `json:"q_continue_logits"`
	Preds           goldenTensor  `json:"preds"`
	Halted          goldenTensor  `json:"halted"`
	Steps           goldenTensor  `json:"steps"`
	ZH              goldenTensor  `json:"z_H"`
	ZL              goldenTensor  `json:"z_L"`
}

type goldenVariant struct {
	Config    Config                     `json:"config"`
	StateDict map[string]goldenTensor    `json:"state_dict"`
	Batch     map[string]goldenTensor    `json:"batch"`
	Rollout   []goldenStep               `json:"eval_rollout"`
	Train     map[string]json.RawMessage `json:"train_step"`
}

var (
	goldenOnce sync.Once
	golden     map[string]*goldenVariant
	goldenErr  error
)

func loadGolden(t *testing.T, variant string) *goldenVariant {
	t.Helper()
	goldenOnce.Do(func() {
		raw, err := os.ReadFile(goldenPath)
		if err != nil {
			goldenErr = err
			return
		}
		var f struct {
			Variants map[string]json.RawMessage `json:"variants"`
		}
		if goldenErr = json.Unmarshal(raw, &f); goldenErr != nil {
			return
		}
		golden = map[string]*goldenVariant{}
		for name, v := range f.Variants {
			gv := &goldenVariant{Config: DefaultConfig()}
			if goldenErr = json.Unmarshal(v, gv); goldenErr != nil {
				return
			}
			golden[name] = gv
		}
	})
	if goldenErr != nil {
		t.Fatalf("%s: %v", goldenPath, goldenErr)
	}
	g := golden[variant]
	if g == nil {
		t.Fatalf("%s: no variant %q", goldenPath, variant)
	}
	return g
}

// goldenModel builds the float32 model of a golden variant with its weights.
func goldenModel[T kernels.Float](t *testing.T, g *goldenVariant, be kernels.Backend[T]) *Model[T] {
	t.Helper()
	m, err := New(g.Config, be, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Backend() != be {
		t.Fatal("the model does not run on the backend it was built with")
	}
	seen := 0
	for key, gt := range g.StateDict {
		name := strings.TrimPrefix(key, "model.inner.")
		dst := m.Tensor(name)
		if dst == nil {
			t.Fatalf("golden state_dict entry %q has no model tensor", key)
		}
		vals := gt.floats(t)
		if len(vals) != dst.Len() {
			t.Fatalf("%s: golden has %d values, model %d", name, len(vals), dst.Len())
		}
		for i, v := range vals {
			dst.Data[i] = T(v)
		}
		seen++
	}
	if seen != len(m.Tensors()) {
		t.Fatalf("golden state_dict has %d entries, model %d", seen, len(m.Tensors()))
	}
	return m
}

func goldenBatch(t *testing.T, g *goldenVariant) *Batch {
	return &Batch{
		Inputs:            g.Batch["inputs"].ints(t),
		Labels:            g.Batch["labels"].ints(t),
		PuzzleIdentifiers: g.Batch["puzzle_identifiers"].ints(t),
	}
}

// Tolerances of the issue: 1e-4 relative, or 1e-6 absolute near zero.
const (
	relTol = 1e-4
	absTol = 1e-6
)

// closeEnough reports whether got matches want within the tolerances.
// "Relative" is relative to the larger of |want| and scale, the largest
// magnitude in the tensor the value belongs to, so values near zero are
// judged against the tensor's own size; the absolute tolerance is only used
// when that reference is itself zero. (Elementwise relative error is
// meaningless where fp32 rounding noise of the reference's own size-1 terms
// cancels to small values; the log reports it anyway.)
func closeEnough(got, want, scale float64) bool {
	diff := math.Abs(got - want)
	ref := max(math.Abs(want), scale)
	if ref == 0 {
		return diff <= absTol
	}
	return diff <= relTol*ref
}

// errStats tracks the worst errors seen, for the test log: elementwise
// relative (values above the absolute tolerance) and relative to the tensor's
// largest magnitude.
type errStats struct {
	maxElemRel, maxNormRel, maxAbs float64
}

func (e *errStats) add(got, want, scale float64) {
	diff := math.Abs(got - want)
	e.maxAbs = max(e.maxAbs, diff)
	if diff > absTol {
		e.maxElemRel = max(e.maxElemRel, diff/math.Abs(want))
	}
	if scale > 0 {
		e.maxNormRel = max(e.maxNormRel, diff/scale)
	}
}

func (e *errStats) String() string {
	return fmt.Sprintf("max error relative to tensor scale %.2g, elementwise relative %.2g, absolute %.2g",
		e.maxNormRel, e.maxElemRel, e.maxAbs)
}

func compareSlice[T kernels.Float](t *testing.T, what string, got []T, want []float64, st *errStats) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	var scale float64
	for _, w := range want {
		scale = max(scale, math.Abs(w))
	}
	bad := 0
	for i, w := range want {
		st.add(float64(got[i]), w, scale)
		if !closeEnough(float64(got[i]), w, scale) {
			if bad < 3 {
				t.Errorf("%s[%d] = %.9g, want %.9g (tensor scale %.3g)", what, i, got[i], w, scale)
			}
			bad++
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d of %d values out of tolerance", what, bad, len(want))
	}
}

func compareScalar(t *testing.T, what string, got, want float64, st *errStats) {
	t.Helper()
	st.add(got, want, math.Abs(want))
	if !closeEnough(got, want, 0) {
		t.Errorf("%s = %.12g, want %.12g", what, got, want)
	}
}

func compareMetrics(t *testing.T, what string, got Metrics, want goldenMetrics, st *errStats) {
	t.Helper()
	compareScalar(t, what+" count", got.Count, want.Count, st)
	compareScalar(t, what+" accuracy", got.Accuracy, want.Accuracy, st)
	compareScalar(t, what+" exact_accuracy", got.ExactAccuracy, want.ExactAccuracy, st)
	compareScalar(t, what+" q_halt_accuracy", got.QHaltAccuracy, want.QHaltAccuracy, st)
	compareScalar(t, what+" steps", got.Steps, want.Steps, st)
	compareScalar(t, what+" lm_loss", got.LMLoss, want.LMLoss, st)
	compareScalar(t, what+" q_halt_loss", got.QHaltLoss, want.QHaltLoss, st)
}

var goldenVariants = []string{"attn_rope", "mlp_t"}

// TestGoldenEvalRollout checks every ACT step of the eval-mode rollout:
// logits, q logits, predictions, halting, step counts, both latents, loss
// and metrics, for the float32 backend and the float64 one.
func TestGoldenEvalRollout(t *testing.T) {
	for _, variant := range goldenVariants {
		t.Run(variant+"/float32", func(t *testing.T) { checkRollout(t, variant, cpu.New32(2)) })
		t.Run(variant+"/float64", func(t *testing.T) { checkRollout(t, variant, cpu.New64(2)) })
	}
}

func checkRollout[T kernels.Float](t *testing.T, variant string, be kernels.Backend[T]) {
	g := loadGolden(t, variant)
	m := goldenModel(t, g, be)
	batch := goldenBatch(t, g)
	carry := m.NewCarry()
	var st errStats
	for i, want := range g.Rollout {
		out, err := m.Forward(carry, batch, false)
		if err != nil {
			t.Fatal(err)
		}
		step := fmt.Sprintf("step %d", i)
		compareScalar(t, step+" loss", out.Loss, want.Loss, &st)
		compareMetrics(t, step, out.Metrics, want.Metrics, &st)
		compareSlice(t, step+" logits", out.Logits, want.Logits.floats(t), &st)
		compareSlice(t, step+" q_halt", out.QHalt, want.QHaltLogits.floats(t), &st)
		compareSlice(t, step+" q_continue", out.QContinue, want.QContinueLogits.floats(t), &st)
		compareSlice(t, step+" z_H", carry.ZH, want.ZH.floats(t), &st)
		compareSlice(t, step+" z_L", carry.ZL, want.ZL.floats(t), &st)
		for j, p := range want.Preds.ints(t) {
			if out.Preds[j] != p {
				t.Errorf("%s preds[%d] = %d, want %d", step, j, out.Preds[j], p)
			}
		}
		for j, s := range want.Steps.ints(t) {
			if carry.Steps[j] != s {
				t.Errorf("%s steps[%d] = %d, want %d", step, j, carry.Steps[j], s)
			}
		}
		for j, h := range want.Halted.ints(t) {
			if carry.Halted[j] != (h != 0) {
				t.Errorf("%s halted[%d] = %v, want %v", step, j, carry.Halted[j], h != 0)
			}
		}
		if out.AllHalted != (i == len(g.Rollout)-1) {
			t.Errorf("%s: all halted = %v", step, out.AllHalted)
		}
	}
	t.Logf("%s %s eval rollout: %v", variant, be.Name(), &st)
}

const gradsKey = "grads_of_loss_over_global_batch_size"

func (g *goldenVariant) trainTensors(t *testing.T, key string) map[string]goldenTensor {
	t.Helper()
	var m map[string]goldenTensor
	if err := json.Unmarshal(g.Train[key], &m); err != nil {
		t.Fatalf("golden train_step %s: %v", key, err)
	}
	return m
}

func (g *goldenVariant) trainTensor(t *testing.T, key string) goldenTensor {
	t.Helper()
	var m goldenTensor
	if err := json.Unmarshal(g.Train[key], &m); err != nil {
		t.Fatalf("golden train_step %s: %v", key, err)
	}
	return m
}

// goldenTrainStep runs the golden train step (fresh carry, training mode,
// no exploration) and the backward of loss/global_batch_size.
func goldenTrainStep[T kernels.Float](t *testing.T, g *goldenVariant, be kernels.Backend[T], st *errStats) *Model[T] {
	t.Helper()
	m := goldenModel(t, g, be)
	carry := m.NewCarry()
	out, err := m.Forward(carry, goldenBatch(t, g), true)
	if err != nil {
		t.Fatal(err)
	}
	var loss float64
	var met goldenMetrics
	if err := json.Unmarshal(g.Train["loss"], &loss); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(g.Train["metrics"], &met); err != nil {
		t.Fatal(err)
	}
	compareScalar(t, "train loss", out.Loss, loss, st)
	compareMetrics(t, "train", out.Metrics, met, st)
	halted := g.trainTensor(t, "halted_after")
	for j, h := range halted.ints(t) {
		if carry.Halted[j] != (h != 0) {
			t.Errorf("train halted[%d] = %v, want %v", j, carry.Halted[j], h != 0)
		}
	}
	if err := m.Backward(1 / float64(g.Config.BatchSize)); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGoldenGradients checks the gradient of every parameter and of the
// puzzle-embedding rows after one training step.
func TestGoldenGradients(t *testing.T) {
	for _, variant := range goldenVariants {
		t.Run(variant+"/float32", func(t *testing.T) { checkGradients(t, variant, cpu.New32(2)) })
		t.Run(variant+"/float64", func(t *testing.T) { checkGradients(t, variant, cpu.New64(2)) })
	}
}

func checkGradients[T kernels.Float](t *testing.T, variant string, be kernels.Backend[T]) {
	g := loadGolden(t, variant)
	var st errStats
	m := goldenTrainStep(t, g, be, &st)
	grads := g.trainTensors(t, gradsKey)
	checked := 0
	for key, gt := range grads {
		name := strings.TrimPrefix(key, "model.inner.")
		if name == "puzzle_emb.local_weights(buffer)" {
			compareSlice(t, "grad "+name, m.PuzzleEmbGrad, gt.floats(t), &st)
			checked++
			continue
		}
		p := m.Tensor(name)
		if p == nil || p.Grad == nil {
			t.Errorf("golden gradient %q has no model parameter", key)
			continue
		}
		compareSlice(t, "grad "+name, p.Grad, gt.floats(t), &st)
		checked++
	}
	trainable := 0
	for _, p := range m.Tensors() {
		if p.Grad != nil {
			trainable++
		}
	}
	if checked != trainable+1 {
		t.Errorf("checked %d gradients, model has %d parameters + puzzle embedding", checked, trainable)
	}
	t.Logf("%s %s train step and gradients: %v", variant, be.Name(), &st)
}

// TestGoldenOptimizerStep checks the puzzle-embedding table after one
// SignSGD step and every parameter after one AdamATan2 step, starting from
// this model's own gradients of the golden train step.
func TestGoldenOptimizerStep(t *testing.T) {
	for _, variant := range goldenVariants {
		t.Run(variant+"/float32", func(t *testing.T) { checkOptimizerStep(t, variant, cpu.New32(2)) })
		t.Run(variant+"/float64", func(t *testing.T) { checkOptimizerStep(t, variant, cpu.New64(2)) })
	}
}

func checkOptimizerStep[T kernels.Float](t *testing.T, variant string, be kernels.Backend[T]) {
	g := loadGolden(t, variant)
	var st errStats
	m := goldenTrainStep(t, g, be, &st)
	if err := NewSignSGD[T](0.1).Step(m, 0.01); err != nil {
		t.Fatal(err)
	}
	compareSlice(t, "puzzle_emb after SignSGD", m.PuzzleEmb, g.trainTensor(t, "puzzle_emb_weights_after_signsgd_lr0.01_wd0.1").floats(t), &st)
	opt := NewAdamATan2(m, 0.9, 0.95, 0.1)
	opt.Step(1e-3)
	want := g.trainTensors(t, "params_after_adam_atan2_step1_lr1e-3_b0.9_0.95_wd0.1")
	checked := 0
	for key, gt := range want {
		name := strings.TrimPrefix(key, "model.inner.")
		p := m.Tensor(name)
		if p == nil || p.Grad == nil {
			t.Errorf("golden parameter %q has no model parameter", key)
			continue
		}
		compareSlice(t, "after AdamATan2 "+name, p.Data, gt.floats(t), &st)
		checked++
	}
	if checked*len(g.StateDict) == 0 || checked != len(g.StateDict)-3 {
		t.Errorf("checked %d parameters of %d state_dict entries", checked, len(g.StateDict))
	}
	t.Logf("%s %s optimiser step: %v", variant, be.Name(), &st)
}

// TestAdamATan2FromGoldenGradients applies one AdamATan2 step to the golden
// weights with the golden gradients: the optimiser alone, to a few float32
// roundings (1e-6 of the tensor's scale: p·decay - lr·π/4 cancels for
// small weights, leaving a rounding of lr·π/4).
func TestAdamATan2FromGoldenGradients(t *testing.T) {
	for _, variant := range goldenVariants {
		t.Run(variant, func(t *testing.T) {
			g := loadGolden(t, variant)
			m := goldenModel(t, g, cpu.New32(1))
			for key, gt := range g.trainTensors(t, gradsKey) {
				if p := m.Tensor(strings.TrimPrefix(key, "model.inner.")); p != nil {
					for i, v := range gt.floats(t) {
						p.Grad[i] = float32(v)
					}
				}
			}
			NewAdamATan2(m, 0.9, 0.95, 0.1).Step(1e-3)
			var st errStats
			for key, gt := range g.trainTensors(t, "params_after_adam_atan2_step1_lr1e-3_b0.9_0.95_wd0.1") {
				p := m.Tensor(strings.TrimPrefix(key, "model.inner."))
				want := gt.floats(t)
				var scale float64
				for _, w := range want {
					scale = max(scale, math.Abs(w))
				}
				for i, w := range want {
					st.add(float64(p.Data[i]), w, scale)
					if d := math.Abs(float64(p.Data[i]) - w); d > 1e-6*scale {
						t.Errorf("%s[%d] = %.9g, want %.9g", key, i, p.Data[i], w)
						break
					}
				}
			}
			t.Logf("%s AdamATan2 from golden gradients: %v", variant, &st)
		})
	}
}
