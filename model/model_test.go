package model

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tinyrecursion/trm/kernels/cpu"
)

// TestParameterCounts checks the state_dict shapes against the parameter
// counts and SwiGLU widths the spec gives for the reference configurations.
func TestParameterCounts(t *testing.T) {
	arc := DefaultConfig()
	arc.SeqLen, arc.VocabSize, arc.NumPuzzleIdentifiers, arc.BatchSize = 900, 12, 1000, 1
	sudoku := DefaultConfig()
	sudoku.SeqLen, sudoku.VocabSize, sudoku.NumPuzzleIdentifiers, sudoku.BatchSize = 81, 11, 1, 1
	sudoku.MLPT, sudoku.PosEncodings = true, "none"
	for _, c := range []struct {
		name         string
		cfg          Config
		params       int
		inter, tokI  int
		firstLayerGU []int
	}{
		{"arc", arc, 6829058, 1536, 2560, []int{3072, 512}},
		{"sudoku_mlp_t", sudoku, 5028866, 1536, 512, []int{1024, 97}},
	} {
		if got := c.cfg.Intermediate(); got != c.inter {
			t.Errorf("%s: intermediate %d, want %d", c.name, got, c.inter)
		}
		if got := c.cfg.TokenIntermediate(); got != c.tokI {
			t.Errorf("%s: token intermediate %d, want %d", c.name, got, c.tokI)
		}
		n := 0
		var names []string
		for _, s := range stateDictSpecs(&c.cfg) {
			names = append(names, s.name)
			if s.trainable {
				n += numel(s.shape)
			}
			if strings.HasSuffix(s.name, "layers.0.mlp_t.gate_up_proj.weight") && !slices.Equal(s.shape, c.firstLayerGU) {
				t.Errorf("%s: %s shape %v, want %v", c.name, s.name, s.shape, c.firstLayerGU)
			}
		}
		if n != c.params {
			t.Errorf("%s: %d parameters, want %d", c.name, n, c.params)
		}
		if names[0] != "H_init" || names[6] != "puzzle_emb.weights" || !strings.HasPrefix(names[7], "L_level.layers.0.") {
			t.Errorf("%s: state_dict order %v", c.name, names[:8])
		}
	}
}

// TestInit checks the reference initialisation and that it is a function of
// the seed alone.
func TestInit(t *testing.T) {
	cfg := sudokuConfig(false)
	cfg.BatchSize = 2
	a, err := New(cfg, cpu.New32(1), 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(cfg, cpu.New32(3), 7)
	c, _ := New(cfg, cpu.New32(1), 8)
	if !slices.Equal(a.Params, b.Params) || !slices.Equal(a.Tensor("H_init").Data, b.Tensor("H_init").Data) {
		t.Error("same seed gave different parameters")
	}
	if slices.Equal(a.Params, c.Params) {
		t.Error("different seeds gave the same parameters")
	}
	for _, v := range a.Tensor("q_head.weight").Data {
		if v != 0 {
			t.Fatal("q_head.weight not zero")
		}
	}
	if qb := a.Tensor("q_head.bias").Data; qb[0] != -5 || qb[1] != -5 {
		t.Errorf("q_head.bias = %v", qb)
	}
	for _, v := range a.PuzzleEmb {
		if v != 0 {
			t.Fatal("puzzle embeddings not zero")
		}
	}
	for _, v := range a.Tensor("L_init").Data {
		if math.Float32bits(v)&0xffff != 0 {
			t.Fatalf("L_init value %v is not a bfloat16", v)
		}
	}
	// Truncated normal: std as requested, bounded by 2·1.1368·std.
	w := a.Tensor("L_level.layers.0.mlp.gate_up_proj.weight")
	std := 1 / math.Sqrt(128)
	var ss float64
	for _, v := range w.Data {
		ss += float64(v) * float64(v)
		if math.Abs(float64(v)) > 2*truncCompStd*std*(1+1e-6) {
			t.Fatalf("value %v beyond the truncation bound", v)
		}
	}
	if got := math.Sqrt(ss / float64(w.Len())); math.Abs(got-std)/std > 0.02 {
		t.Errorf("gate_up std %v, want %v", got, std)
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.HiddenSize = 10 },                       // not divisible by heads
		func(c *Config) { c.NoACTContinue = false },                 // reference crashes
		func(c *Config) { c.PuzzleEmbNdim, c.PuzzleEmbLen = 0, 16 }, // quirk Q-M5
		func(c *Config) { c.BatchSize = 0 },
		func(c *Config) { c.NumPuzzleIdentifiers = 0 },
		func(c *Config) { c.PuzzleEmbNdim, c.PuzzleEmbLen = 17, 2 }, // exceeds the prefix
	}
	for i, mod := range bad {
		c := tinyConfig(false)
		mod(&c)
		if _, err := New(c, cpu.New64(1), 1); err == nil {
			t.Errorf("case %d: invalid config accepted", i)
		}
	}
	c := tinyConfig(false)
	c.PuzzleEmbNdim, c.PuzzleEmbLen = 0, 0
	if _, err := New(c, cpu.New64(1), 1); err != nil {
		t.Errorf("no puzzle embeddings: %v", err)
	}
}

func TestForwardRejectsBadBatch(t *testing.T) {
	m, err := New(tinyConfig(false), cpu.New64(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Batch){
		"token":      func(b *Batch) { b.Inputs[3] = 5 },
		"label":      func(b *Batch) { b.Labels[0] = -1 },
		"identifier": func(b *Batch) { b.PuzzleIdentifiers[2] = 4 },
		"shape":      func(b *Batch) { b.Inputs = b.Inputs[1:] },
	} {
		b := tinyBatch()
		mod(b)
		if _, err := m.Forward(m.NewCarry(), b, false); err == nil {
			t.Errorf("%s: bad batch accepted", name)
		}
	}
	if err := m.Backward(1); err == nil {
		t.Error("Backward without a training Forward accepted")
	}
}

// TestACTCarry follows the reference's ACT semantics in training: rows that
// do not halt keep their data and latents, halted rows restart on the new
// batch, and exploration keeps rows running until their drawn minimum.
func TestACTCarry(t *testing.T) {
	cfg := tinyConfig(false)
	cfg.HaltMaxSteps = 3
	m, err := New(cfg, cpu.New64(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	randomise(m, 3)
	first := tinyBatch()
	// Shift q_halt's bias so that some rows halt after one step and some not.
	probe, err := m.Forward(m.NewCarry(), first, false)
	if err != nil {
		t.Fatal(err)
	}
	q := slices.Sorted(slices.Values(probe.QHalt))
	m.qB[0] -= (q[0] + q[1]) / 2
	carry := m.NewCarry()
	out, err := m.Forward(carry, first, true)
	if err != nil {
		t.Fatal(err)
	}
	for b := range cfg.BatchSize {
		wantHalt := out.QHalt[b] > 0
		if carry.Halted[b] != wantHalt || carry.Steps[b] != 1 {
			t.Fatalf("row %d: halted %v steps %d after one step, q_halt %v", b, carry.Halted[b], carry.Steps[b], out.QHalt[b])
		}
	}
	second := tinyBatch()
	for i := range second.Inputs {
		second.Inputs[i] = (second.Inputs[i] + 1) % int32(cfg.VocabSize)
	}
	halted := append([]bool(nil), carry.Halted...)
	if !slices.Contains(halted, true) || !slices.Contains(halted, false) {
		t.Fatalf("halting pattern %v does not exercise both cases", halted)
	}
	if _, err := m.Forward(carry, second, true); err != nil {
		t.Fatal(err)
	}
	for b := range cfg.BatchSize {
		row := carry.Inputs[b*cfg.SeqLen : (b+1)*cfg.SeqLen]
		want := first.Inputs[b*cfg.SeqLen : (b+1)*cfg.SeqLen]
		wantSteps := int32(2)
		if halted[b] {
			want, wantSteps = second.Inputs[b*cfg.SeqLen:(b+1)*cfg.SeqLen], 1
		}
		if !slices.Equal(row, want) || carry.Steps[b] != wantSteps {
			t.Errorf("row %d (halted before: %v): data %v steps %d, want %v steps %d", b, halted[b], row, carry.Steps[b], want, wantSteps)
		}
	}

	// Eval mode ignores q_halt: exactly halt_max_steps steps.
	carry = m.NewCarry()
	for step := 1; step <= cfg.HaltMaxSteps; step++ {
		out, err := m.Forward(carry, first, false)
		if err != nil {
			t.Fatal(err)
		}
		if out.AllHalted != (step == cfg.HaltMaxSteps) {
			t.Fatalf("eval step %d: all halted %v", step, out.AllHalted)
		}
	}

	// Exploration with probability 1: no row halts before step 2 even if
	// q_halt > 0.
	cfg.HaltExplorationProb = 1
	m2, _ := New(cfg, cpu.New64(1), 1)
	copy(m2.Params, m.Params)
	copy(m2.PuzzleEmb, m.PuzzleEmb)
	for i := range m2.qB {
		m2.qB[i] = 50 // q_halt > 0 everywhere
	}
	carry = m2.NewCarry()
	if _, err := m2.Forward(carry, first, true); err != nil {
		t.Fatal(err)
	}
	for b, h := range carry.Halted {
		if h {
			t.Errorf("row %d halted at step 1 under exploration", b)
		}
	}
}

// TestTrainingIsDeterministic runs a few float32 training steps with
// exploration twice from the same seed, with different worker counts, and
// requires identical bytes.
func TestTrainingIsDeterministic(t *testing.T) {
	cfg := tinyConfig(false)
	cfg.HaltMaxSteps, cfg.HaltExplorationProb, cfg.HCycles = 4, 0.5, 2
	run := func(workers int) ([]float32, []float32, []bool) {
		be := cpu.New32(workers)
		defer be.Close()
		m, err := New(cfg, be, 42)
		if err != nil {
			t.Fatal(err)
		}
		adam, sgd := NewAdamATan2(m, 0.9, 0.95, 0.1), NewSignSGD[float32](0.1)
		carry := m.NewCarry()
		var halted []bool
		for range 5 {
			if _, err := m.Forward(carry, tinyBatch(), true); err != nil {
				t.Fatal(err)
			}
			halted = append(halted, carry.Halted...)
			if err := m.Backward(1.0 / 3); err != nil {
				t.Fatal(err)
			}
			if err := sgd.Step(m, 1e-2); err != nil {
				t.Fatal(err)
			}
			adam.Step(1e-3)
		}
		return m.Params, m.PuzzleEmb, halted
	}
	p1, e1, h1 := run(1)
	p2, e2, h2 := run(3)
	if !slices.Equal(h1, h2) {
		t.Errorf("halting differs: %v vs %v", h1, h2)
	}
	for i := range p1 {
		if math.Float32bits(p1[i]) != math.Float32bits(p2[i]) {
			t.Fatalf("parameter %d differs: %v vs %v", i, p1[i], p2[i])
		}
	}
	for i := range e1 {
		if math.Float32bits(e1[i]) != math.Float32bits(e2[i]) {
			t.Fatalf("puzzle embedding %d differs", i)
		}
	}
}

// TestTrainStepDoesNotAllocate: after the first step, a training step
// (forward, backward, both optimisers, EMA) allocates nothing.
func TestTrainStepDoesNotAllocate(t *testing.T) {
	be := cpu.New32(2)
	defer be.Close()
	m, err := New(tinyConfig(true), be, 1)
	if err != nil {
		t.Fatal(err)
	}
	adam, sgd, ema := NewAdamATan2(m, 0.9, 0.95, 0.1), NewSignSGD[float32](0.1), NewEMA(m, 0.999)
	carry, batch := m.NewCarry(), tinyBatch()
	step := func() {
		if _, err := m.Forward(carry, batch, true); err != nil {
			t.Fatal(err)
		}
		if err := m.Backward(1.0 / 3); err != nil {
			t.Fatal(err)
		}
		if err := sgd.Step(m, 1e-2); err != nil {
			t.Fatal(err)
		}
		adam.Step(1e-3)
		ema.Update()
	}
	step()
	if a := testing.AllocsPerRun(3, step); a != 0 {
		t.Errorf("%v allocations per training step", a)
	}
}
