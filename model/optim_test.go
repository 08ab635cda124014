package model

import (
	"math"
	"testing"

	"github.com/tinyrecursion/trm/kernels/cpu"
)

func TestScheduleLR(t *testing.T) {
	cases := []struct {
		s    Schedule
		step int
		want float64
	}{
		{Schedule{Base: 1e-4, WarmupSteps: 2000, TotalSteps: 10000, MinRatio: 1}, 1, 1e-4 / 2000},
		{Schedule{Base: 1e-4, WarmupSteps: 2000, TotalSteps: 10000, MinRatio: 1}, 1000, 0.5e-4},
		{Schedule{Base: 1e-4, WarmupSteps: 2000, TotalSteps: 10000, MinRatio: 1}, 2000, 1e-4},
		{Schedule{Base: 1e-4, WarmupSteps: 2000, TotalSteps: 10000, MinRatio: 1}, 9000, 1e-4},
		// cosine to 10%: halfway the rate is 0.1 + 0.9·0.5 of the base.
		{Schedule{Base: 1, WarmupSteps: 0, TotalSteps: 100, MinRatio: 0.1}, 50, 0.55},
		{Schedule{Base: 1, WarmupSteps: 0, TotalSteps: 100, MinRatio: 0.1}, 100, 0.1},
		{Schedule{Base: 1, WarmupSteps: 10, TotalSteps: 110, MinRatio: 0}, 35, 0.5 * (1 + math.Cos(math.Pi/4))},
		// past the end the cosine turns back up (the reference does not clamp progress)
		{Schedule{Base: 1, WarmupSteps: 0, TotalSteps: 100, MinRatio: 0}, 150, 0.5 * (1 + math.Cos(1.5*math.Pi))},
	}
	for _, c := range cases {
		if got := c.s.LR(c.step); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%+v LR(%d) = %g, want %g", c.s, c.step, got, c.want)
		}
	}
}

func TestSignSGDTouchesOnlyBatchRows(t *testing.T) {
	const dim = 3
	table := []float32{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}
	ids := []int32{2, 0, 2}
	grads := []float32{
		1, -2, 0, // id 2
		-1, 0, 5, // id 0
		-3, 1, 0, // id 2: sums to (-2, -1, 0)
	}
	if err := NewSignSGD[float32](0.5).StepRows(table, dim, ids, grads, 0.1); err != nil {
		t.Fatal(err)
	}
	d := float32(1 - 0.1*0.5)
	want := []float32{
		1*d + 0.1, 1 * d, 1*d - 0.1,
		2, 2, 2,
		3*d + 0.1, 3*d + 0.1, 3 * d,
		4, 4, 4,
	}
	for i := range want {
		if table[i] != want[i] {
			t.Errorf("table[%d] = %v, want %v", i, table[i], want[i])
		}
	}
	if err := NewSignSGD[float32](0).StepRows(table, dim, []int32{7}, make([]float32, 3), 0.1); err == nil {
		t.Error("id outside the table accepted")
	}
}

func TestEMA(t *testing.T) {
	cfg := tinyConfig(false)
	m, err := New(cfg, cpu.New64(1), 3)
	if err != nil {
		t.Fatal(err)
	}
	orig := append([]float64(nil), m.Params...)
	e := NewEMA(m, 0.9)
	for i := range m.Params {
		m.Params[i] += 1
	}
	e.Update()
	for i, v := range e.Shadow {
		if want := 0.1*(orig[i]+1) + 0.9*orig[i]; math.Abs(v-want) > 1e-12 {
			t.Fatalf("shadow[%d] = %v, want %v", i, v, want)
		}
	}
	e.Swap()
	if math.Abs(m.Params[0]-(orig[0]+0.1)) > 1e-12 || e.Shadow[0] != orig[0]+1 {
		t.Errorf("Swap: params[0] = %v, shadow[0] = %v", m.Params[0], e.Shadow[0])
	}
}
