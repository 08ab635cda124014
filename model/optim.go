package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/tinyrecursion/trm/kernels"
)

// AdamATan2 is the reference's optimiser for every parameter (pip
// adam-atan2 0.0.3, a = b = 1): decoupled weight decay on the old value, then
// p -= lr·atan2(m̂, sqrt(v̂)). Its moments cover the model's flat Params.
type AdamATan2[T kernels.Float] struct {
	Beta1, Beta2, WeightDecay float64
	Steps                     int // steps taken; the next Step is Steps+1
	M, V                      []T
	model                     *Model[T]
}

// NewAdamATan2 returns the optimiser for m's parameters with zero moments.
func NewAdamATan2[T kernels.Float](m *Model[T], beta1, beta2, weightDecay float64) *AdamATan2[T] {
	return &AdamATan2[T]{Beta1: beta1, Beta2: beta2, WeightDecay: weightDecay,
		M: m.be.Alloc(len(m.Params)), V: m.be.Alloc(len(m.Params)), model: m}
}

// Step applies one update with learning rate lr from m.Grads.
func (o *AdamATan2[T]) Step(lr float64) {
	o.Steps++
	s := kernels.NewAdamATan2Scalars(lr, o.Beta1, o.Beta2, o.WeightDecay, o.Steps)
	o.model.be.AdamATan2(o.model.Params, o.model.Grads, o.M, o.V, s)
}

// SignSGD is the reference's sparse optimiser of the puzzle-embedding table
// (CastedSparseEmbeddingSignSGD_Distributed): only the rows present in the
// batch are touched, each decayed and moved by -lr·sign(Σ gradients of the
// row).
type SignSGD[T kernels.Float] struct {
	WeightDecay float64
	order       []int // scratch: batch rows sorted by id
	sum         []T   // scratch: summed gradient of one id
}

// NewSignSGD returns the optimiser with the given decoupled weight decay.
func NewSignSGD[T kernels.Float](weightDecay float64) *SignSGD[T] {
	return &SignSGD[T]{WeightDecay: weightDecay}
}

// Step updates m.PuzzleEmb from the gradients of the last Backward.
func (o *SignSGD[T]) Step(m *Model[T], lr float64) error {
	return o.StepGathered(m, m.PuzzleEmbIDs, m.PuzzleEmbGrad, lr)
}

// StepGathered updates m.PuzzleEmb from the rows ids and their gradients
// grads ([len(ids), puzzle_emb_ndim]) of every rank of a data-parallel job,
// concatenated in rank order (each rank's PuzzleEmbIDs and PuzzleEmbGrad),
// so that every rank moves its copy of the table identically.
func (o *SignSGD[T]) StepGathered(m *Model[T], ids []int32, grads []T, lr float64) error {
	nd := m.Cfg.PuzzleEmbNdim
	if nd == 0 {
		return nil
	}
	// The table lives on the host, where only this step changes it; the
	// rows it moved go to the device for the next gather, together. A
	// device failure shows at the caller's next Err, which ends its step:
	// waiting here would idle the GPU while the host enqueues the rest.
	if err := o.StepRows(m.PuzzleEmb, nd, ids, grads, lr); err != nil {
		return err
	}
	m.be.ToDeviceRows(m.PuzzleEmb, nd, ids)
	return nil
}

// StepRows updates table ([rows, dim]) from per-example gradients grads
// ([len(ids), dim]) of rows ids, as gathered from every rank in a
// distributed run: ids are de-duplicated (ascending), their gradients summed
// in example order, and w = w·(1 - lr·wd) - lr·sign(g) applied to each
// distinct row once.
func (o *SignSGD[T]) StepRows(table []T, dim int, ids []int32, grads []T, lr float64) error {
	if len(grads) != len(ids)*dim {
		return fmt.Errorf("signsgd: %d gradient values for %d ids of width %d", len(grads), len(ids), dim)
	}
	if cap(o.order) < len(ids) {
		o.order = make([]int, len(ids))
	}
	if len(o.sum) < dim {
		o.sum = make([]T, dim)
	}
	order := o.order[:len(ids)]
	for i := range order {
		order[i] = i
	}
	// Stable: equal ids keep example order, so sums do not depend on sorting.
	slices.SortStableFunc(order, func(a, b int) int { return int(ids[a]) - int(ids[b]) })
	decay, step := T(1-lr*o.WeightDecay), T(-lr)
	for start := 0; start < len(order); {
		id := ids[order[start]]
		if id < 0 || int(id)*dim >= len(table) {
			return fmt.Errorf("signsgd: id %d outside the table of %d rows", id, len(table)/dim)
		}
		sum := o.sum[:dim]
		clear(sum)
		end := start
		for ; end < len(order) && ids[order[end]] == id; end++ {
			for j, g := range grads[order[end]*dim : (order[end]+1)*dim] {
				sum[j] += g
			}
		}
		row := table[int(id)*dim : (int(id)+1)*dim]
		for j, g := range sum {
			row[j] = row[j]*decay + step*sign(g)
		}
		start = end
	}
	return nil
}

func sign[T kernels.Float](x T) T {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// Schedule is the reference's learning-rate schedule: linear warm-up to the
// base rate over WarmupSteps, then a cosine from the base rate down to
// MinRatio·base at TotalSteps (constant when MinRatio is 1, the default).
type Schedule struct {
	Base        float64
	WarmupSteps int
	TotalSteps  int
	MinRatio    float64
}

// LR returns the rate for the 1-based optimiser step.
func (s Schedule) LR(step int) float64 {
	if step < s.WarmupSteps {
		return s.Base * float64(step) / float64(max(1, s.WarmupSteps))
	}
	progress := float64(step-s.WarmupSteps) / float64(max(1, s.TotalSteps-s.WarmupSteps))
	return s.Base * (s.MinRatio + math.Max(0, (1-s.MinRatio)*0.5*(1+math.Cos(math.Pi*progress))))
}

// EMA keeps an exponential moving average of the trainable parameters
// (not of the puzzle embeddings or H_init/L_init, as the reference).
type EMA[T kernels.Float] struct {
	Mu     float64
	Shadow []T // same layout as Model.Params
	model  *Model[T]
}

// NewEMA registers m: the shadow starts as a copy of the parameters.
func NewEMA[T kernels.Float](m *Model[T], mu float64) *EMA[T] {
	e := &EMA[T]{Mu: mu, Shadow: m.be.Alloc(len(m.Params)), model: m}
	m.be.Copy(e.Shadow, m.Params)
	return e
}

// Update sets shadow = (1-mu)·params + mu·shadow.
func (e *EMA[T]) Update() { e.model.be.Lerp(e.Shadow, e.model.Params, e.Mu) }

// Swap exchanges the parameters and the shadow, so the model evaluates with
// the averaged weights; a second Swap restores the trained ones.
func (e *EMA[T]) Swap() {
	be, p := e.model.be, e.model.Params
	be.ToHost(p)
	be.ToHost(e.Shadow)
	for i, v := range e.Shadow {
		e.Shadow[i], p[i] = p[i], v
	}
	be.ToDevice(p)
	be.ToDevice(e.Shadow)
}
