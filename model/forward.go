package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/tinyrecursion/trm/kernels"
)

// blockActs are the saved activations of one block application. in aliases
// the net input (first block) or the previous block's output.
type blockActs[T kernels.Float] struct {
	in []T // [N, h]
	// attention: qkv after RoPE [N, 3h], probs [B, H, L, L], attn [N, h]
	qkv, probs, attn []T
	// token mixing, over [B·h, L] rows: tin input, tgu [B·h, 2·It],
	// tact [B·h, It], tout normalised output, trstd [B·h]
	tin, tgu, tact, tout, trstd []T
	// after mixing: y1 normalised [N, h]; MLP gu [N, 2I], act [N, I];
	// y2 normalised block output [N, h]
	y1, rstd1, gu, act, y2, rstd2 []T
}

// slot is one call of the reasoning network within a cycle: its input
// u = z + injection and its blocks. Slot j < L_cycles updates z_L, slot
// L_cycles updates z_H. Every cycle reuses the slots; the last (gradient)
// cycle's values remain for Backward.
type slot[T kernels.Float] struct {
	u      []T
	blocks []blockActs[T]
}

func (s *slot[T]) out() []T { return s.blocks[len(s.blocks)-1].y2 }

type activations[T kernels.Float] struct {
	x, inj, tmp []T // input embeddings, z_H + x, residual scratch: [N, h]
	// hRow and lRow are H_init and L_init repeated over one row's L
	// positions: the source that halted rows are reset from, on the device.
	hRow, lRow []T
	slots      []slot[T]
	logitsFull []T       // [N, V], prefix rows included
	q, dq      []T       // [B, 2] q_head products (halt, continue) and their gradients
	tokLoss    []float64 // [B·S]
	inputs     []int32   // [B·S] token ids of the last Forward
	labelsFull []int32   // [N] labels of the last Forward, prefix rows ignored
	lossFull   []float64 // [N]
	gradScale  []float64 // [N]
	seqCorrect []bool

	// backward scratch
	dLogitsFull         []T
	dZ, dR, dY1, dO, dX []T // [N, h]
	dQKV, dProbs        []T
	dAct, dGU           []T
}

func (m *Model[T]) allocActivations() {
	d, a, al := m.dims, &m.acts, m.be.Alloc
	nh := d.N * d.h
	a.x, a.inj, a.tmp = al(nh), al(nh), al(nh)
	a.hRow, a.lRow = al(d.L*d.h), al(d.L*d.h)
	a.slots = make([]slot[T], m.Cfg.LCycles+1)
	for si := range a.slots {
		s := &a.slots[si]
		s.u = al(nh)
		s.blocks = make([]blockActs[T], m.Cfg.LLayers)
		for bi := range s.blocks {
			b := &s.blocks[bi]
			if bi == 0 {
				b.in = s.u
			} else {
				b.in = s.blocks[bi-1].y2
			}
			if m.Cfg.MLPT {
				bh := d.B * d.h
				b.tin, b.tgu, b.tact = al(nh), al(bh*2*d.It), al(bh*d.It)
				b.tout, b.trstd = al(nh), al(bh)
			} else {
				b.qkv, b.probs, b.attn = al(3*nh), al(d.B*d.H*d.L*d.L), al(nh)
			}
			b.y1, b.rstd1 = al(nh), al(d.N)
			b.gu, b.act = al(d.N*2*d.I), al(d.N*d.I)
			b.y2, b.rstd2 = al(nh), al(d.N)
		}
	}
	a.logitsFull, a.dLogitsFull = al(d.N*d.V), al(d.N*d.V)
	a.q, a.dq = al(2*d.B), al(2*d.B)
	a.tokLoss, a.gradScale, a.lossFull = make([]float64, d.B*d.S), make([]float64, d.N), make([]float64, d.N)
	a.inputs, a.labelsFull = make([]int32, d.B*d.S), make([]int32, d.N)
	a.seqCorrect = make([]bool, d.B)
	a.dZ, a.dR, a.dY1, a.dO, a.dX = al(nh), al(nh), al(nh), al(nh), al(nh)
	gu := d.N * 2 * d.I
	if m.Cfg.MLPT {
		a.dGU, a.dAct = al(max(gu, d.B*d.h*2*d.It)), al(max(d.N*d.I, d.B*d.h*d.It))
	} else {
		a.dGU, a.dAct = al(gu), al(d.N*d.I)
		a.dQKV, a.dProbs = al(3*nh), al(d.B*d.H*d.L*d.L)
	}
	if m.Cfg.PuzzleEmbNdim > 0 {
		m.PuzzleEmbGrad = al(d.B * m.Cfg.PuzzleEmbNdim)
		m.PuzzleEmbIDs = make([]int32, d.B)
	}
	o := &m.out
	o.Logits = al(d.B * d.S * d.V)
	o.QHalt, o.QContinue = al(d.B), al(d.B)
	o.Preds = make([]int32, d.B*d.S)
}

// checkBatch validates the shapes and token ranges of a batch.
func (m *Model[T]) checkBatch(b *Batch) error {
	d := m.dims
	if len(b.Inputs) != d.B*d.S || len(b.Labels) != d.B*d.S || len(b.PuzzleIdentifiers) != d.B {
		return fmt.Errorf("batch shapes inputs %d, labels %d, puzzle_identifiers %d; want %d, %d, %d",
			len(b.Inputs), len(b.Labels), len(b.PuzzleIdentifiers), d.B*d.S, d.B*d.S, d.B)
	}
	for i, v := range b.Inputs {
		if v < 0 || int(v) >= d.V {
			return fmt.Errorf("batch inputs[%d] = %d outside vocabulary [0, %d)", i, v, d.V)
		}
	}
	for i, v := range b.Labels {
		if v != kernels.IgnoreLabel && (v < 0 || int(v) >= d.V) {
			return fmt.Errorf("batch labels[%d] = %d outside vocabulary [0, %d)", i, v, d.V)
		}
	}
	if m.Cfg.PuzzleEmbNdim > 0 {
		for i, v := range b.PuzzleIdentifiers {
			if v < 0 || int(v) >= m.Cfg.NumPuzzleIdentifiers {
				return fmt.Errorf("batch puzzle_identifiers[%d] = %d outside [0, %d)", i, v, m.Cfg.NumPuzzleIdentifiers)
			}
		}
	}
	return nil
}

// Forward runs one ACT step for every row (the reference's
// ACTLossHead.forward): halted rows restart from H_init/L_init on the new
// batch's data, every row advances one step through the full recursion, and
// the loss and metrics are computed. With train set, halting follows q_halt
// with exploration and the activations of the last cycle are kept for
// Backward; otherwise every row runs exactly halt_max_steps steps.
func (m *Model[T]) Forward(c *Carry[T], batch *Batch, train bool) (*StepOutput[T], error) {
	if err := m.checkBatch(batch); err != nil {
		return nil, err
	}
	d := m.dims
	// Reset halted rows and load their new data. The initial states go to
	// the device once per step (from the host's H_init and L_init, which
	// loaded weights may have changed) and are copied to each halted row
	// there: a GPU then waits for two transfers a step, not two per row.
	if slices.Contains(c.Halted, true) {
		a := &m.acts
		for p := 0; p < d.L; p++ {
			copy(a.hRow[p*d.h:(p+1)*d.h], m.hInit)
			copy(a.lRow[p*d.h:(p+1)*d.h], m.lInit)
		}
		m.be.ToDevice(a.hRow)
		m.be.ToDevice(a.lRow)
	}
	for b := 0; b < d.B; b++ {
		if !c.Halted[b] {
			continue
		}
		m.be.Copy(c.ZH[b*d.L*d.h:(b+1)*d.L*d.h], m.acts.hRow)
		m.be.Copy(c.ZL[b*d.L*d.h:(b+1)*d.L*d.h], m.acts.lRow)
		c.Steps[b] = 0
		copy(c.Inputs[b*d.S:(b+1)*d.S], batch.Inputs[b*d.S:(b+1)*d.S])
		copy(c.Labels[b*d.S:(b+1)*d.S], batch.Labels[b*d.S:(b+1)*d.S])
		c.PuzzleIdentifiers[b] = batch.PuzzleIdentifiers[b]
	}
	m.inner(c, train)
	copy(m.acts.inputs, c.Inputs)
	for b := 0; b < d.B; b++ {
		lf := m.acts.labelsFull[b*d.L : (b+1)*d.L]
		for p := range d.P {
			lf[p] = kernels.IgnoreLabel
		}
		copy(lf[d.P:], c.Labels[b*d.S:(b+1)*d.S])
	}

	out := &m.out
	all := true
	for b := 0; b < d.B; b++ {
		c.Steps[b]++
		halted := int(c.Steps[b]) >= m.Cfg.HaltMaxSteps
		if train && m.Cfg.HaltMaxSteps > 1 {
			halted = halted || out.QHalt[b] > 0
			// Exploration: with probability p a row must run at least a
			// uniform number of steps in [2, halt_max_steps].
			explore := m.explore.Float64() < m.Cfg.HaltExplorationProb
			minHalt := 2 + m.explore.IntN(m.Cfg.HaltMaxSteps-1)
			if explore && int(c.Steps[b]) < minHalt {
				halted = false
			}
		}
		c.Halted[b] = halted
		all = all && halted
	}
	out.AllHalted = all
	m.lossHead(c)
	m.haveTrainingForward = train
	if err := m.be.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// inner is one inner forward: embeddings, H_cycles·(L_cycles+1) network
// calls, heads. The carry's latents are read and replaced. With train, the
// last cycle keeps its MLP intermediates for Backward; the others (and
// evaluation) let the backend keep them in cache-sized scratch.
func (m *Model[T]) inner(c *Carry[T], train bool) {
	d, a, be := m.dims, &m.acts, m.be
	m.inputEmbeddings(c)
	zH, zL := c.ZH, c.ZL
	lc := m.Cfg.LCycles
	for i := 0; i < m.Cfg.HCycles; i++ {
		save := train && i == m.Cfg.HCycles-1
		be.Add(a.inj, zH, a.x)
		for j := 0; j < lc; j++ {
			s := &a.slots[j]
			be.Add(s.u, zL, a.inj)
			m.net(s, save)
			zL = s.out()
		}
		s := &a.slots[lc]
		be.Add(s.u, zH, zL)
		m.net(s, save)
		zH = s.out()
	}
	be.Copy(c.ZH, zH)
	be.Copy(c.ZL, zL)

	// lm_head over every position; the prefix rows are dropped below.
	be.Gemm(false, true, d.N, d.V, d.h, 1, zH, d.h, m.lmHead, d.h, 0, a.logitsFull, d.V)
	// q_head reads position 0 of every row (quirk Q-M15): the rows of zH
	// at stride L·h, one product on the backend rather than B reads of
	// scattered device rows on the host.
	be.Gemm(false, true, d.B, 2, d.h, 1, zH, d.L*d.h, m.qW, d.h, 0, a.q, 2)
	be.ToHost(a.q)
	be.ToHost(m.qB)
	out := &m.out
	be.CopyRows(out.Logits, d.S*d.V, a.logitsFull[d.P*d.V:], d.L*d.V, d.B, d.S*d.V)
	for b := 0; b < d.B; b++ {
		out.QHalt[b] = a.q[2*b] + m.qB[0]
		out.QContinue[b] = a.q[2*b+1] + m.qB[1]
	}
}

// inputEmbeddings writes x = sqrt(h)·[puzzle prefix; token embeddings]
// (with learned positions: sqrt(h)·0.707106781·(e + pos)).
func (m *Model[T]) inputEmbeddings(c *Carry[T]) {
	d, x := m.dims, m.acts.x
	learned := m.embedPos != nil
	scale := T(math.Sqrt(float64(d.h)))
	tokScale := scale
	if learned {
		tokScale = 1
	}
	// Each row is [prefix of P positions; S tokens]. The prefix holds the
	// row's puzzle embedding (nd values) and zeros after it, which nothing
	// but the learned-position sum below ever overwrites. The embeddings
	// are gathered side by side into the residual scratch (free until the
	// first block), then put in place by one strided copy each.
	nd := m.Cfg.PuzzleEmbNdim
	tokens, puzzles := m.acts.tmp[:d.B*d.S*d.h], m.acts.tmp[d.B*d.S*d.h:][:d.B*nd]
	if nd > 0 {
		copy(m.PuzzleEmbIDs, c.PuzzleIdentifiers)
		m.be.Gather(puzzles, m.PuzzleEmb, c.PuzzleIdentifiers, nd, tokScale)
		m.be.CopyRows(x, d.L*d.h, puzzles, nd, d.B, nd)
	}
	m.be.Gather(tokens, m.embed, c.Inputs, d.h, tokScale)
	m.be.CopyRows(x[d.P*d.h:], d.L*d.h, tokens, d.S*d.h, d.B, d.S*d.h)
	if learned {
		// On the host: x, the positions, and the prefix padding that the
		// last call's sum overwrote.
		m.be.ToHost(x)
		m.be.ToHost(m.embedPos)
		invSqrt2 := T(0.707106781)
		for b := 0; b < d.B; b++ {
			clear(x[b*d.L*d.h+nd : (b*d.L+d.P)*d.h])
			e := x[b*d.L*d.h : (b+1)*d.L*d.h]
			for i, p := range m.embedPos {
				e[i] = scale * (invSqrt2 * (e[i] + p))
			}
		}
		m.be.ToDevice(x)
	}
}

// net applies the L_layers blocks to s.u; save keeps the MLP
// intermediates for Backward.
func (m *Model[T]) net(s *slot[T], save bool) {
	for i := range s.blocks {
		m.block(&m.layers[i], &s.blocks[i], save)
	}
}

// block is one post-norm block:
// y1 = norm(in + mix(in)); y2 = norm(y1 + SwiGLU(y1)), where mix is
// attention over positions, or (mlp_t) a SwiGLU over positions normalised
// over positions too (quirk Q-M7).
func (m *Model[T]) block(l *layerParams[T], a *blockActs[T], save bool) {
	d, be, tmp, eps := m.dims, m.be, m.acts.tmp, m.Cfg.RMSNormEps
	tgu, tact, gu, act := a.tgu, a.tact, a.gu, a.act
	if !save {
		tgu, tact, gu, act = nil, nil, nil, nil
	}
	if m.Cfg.MLPT {
		bh := d.B * d.h
		be.Transpose(a.tin, a.in, d.B, d.L, d.h)
		be.MLP(tmp, a.tin, l.tgu, l.td, tgu, tact, bh, d.L, d.It)
		be.AddRMSNorm(a.tout, a.trstd, a.tin, tmp, bh, d.L, eps)
		be.Transpose(a.y1, a.tout, d.B, d.h, d.L)
	} else {
		be.Gemm(false, true, d.N, 3*d.h, d.h, 1, a.in, d.h, l.qkv, d.h, 0, a.qkv, 3*d.h)
		if m.cos != nil {
			be.RoPE(a.qkv, d.N, 3*d.h, 2*d.H, d.d, d.L, m.cos, m.sin)
		}
		be.Attention(a.attn, a.probs, a.qkv, d.B, d.L, d.H, d.d)
		be.Gemm(false, true, d.N, d.h, d.h, 1, a.attn, d.h, l.o, d.h, 0, tmp, d.h)
		be.AddRMSNorm(a.y1, a.rstd1, a.in, tmp, d.N, d.h, eps)
	}
	be.MLP(tmp, a.y1, l.gu, l.down, gu, act, d.N, d.h, d.I)
	be.AddRMSNorm(a.y2, a.rstd2, a.y1, tmp, d.N, d.h, eps)
}

// lossHead computes predictions, losses and metrics of the current step
// against the labels of each row's current data.
func (m *Model[T]) lossHead(c *Carry[T]) {
	d, a, out := m.dims, &m.acts, &m.out
	m.be.StablemaxCrossEntropy(a.tokLoss, nil, out.Logits, c.Labels, nil, d.B*d.S, d.V)
	m.be.ToHost(out.Logits)
	var met Metrics
	var accuracy float32
	var qLoss T
	for b := 0; b < d.B; b++ {
		n, correct := 0, 0
		var lm float64
		for t := 0; t < d.S; t++ {
			r := b*d.S + t
			row := out.Logits[r*d.V : (r+1)*d.V]
			best := 0
			for v := 1; v < d.V; v++ {
				if row[v] > row[best] {
					best = v
				}
			}
			out.Preds[r] = int32(best)
			if c.Labels[r] != kernels.IgnoreLabel {
				n++
				if int32(best) == c.Labels[r] {
					correct++
				}
			}
			lm += a.tokLoss[r]
		}
		div := max(n, 1)
		met.LMLoss += lm / float64(div)
		seqCorrect := correct == n
		a.seqCorrect[b] = seqCorrect
		if c.Halted[b] && n > 0 {
			met.Count++
			var acc float32
			for range correct {
				acc += 1 / float32(div)
			}
			accuracy += acc
			if seqCorrect {
				met.ExactAccuracy++
			}
			if (out.QHalt[b] >= 0) == seqCorrect {
				met.QHaltAccuracy++
			}
			met.Steps += float64(c.Steps[b])
		}
		var y T
		if seqCorrect {
			y = 1
		}
		l, _ := kernels.BCEWithLogits(out.QHalt[b], y)
		qLoss += l
	}
	met.Accuracy = float64(accuracy)
	met.QHaltLoss = float64(qLoss)
	out.Metrics = met
	out.Loss = met.LMLoss + 0.5*met.QHaltLoss
}
