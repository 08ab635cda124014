package model

import (
	"errors"
	"math"

	"github.com/tinyrecursion/trm/kernels"
)

// Backward computes the gradients of scale·Loss of the last training
// Forward (the reference backpropagates loss/global_batch_size) into Grads
// and PuzzleEmbGrad, overwriting them. As in the reference, gradients flow
// only through the last H cycle (L_cycles+1 network calls) and into the
// input embeddings from there; nothing flows into the incoming carry.
func (m *Model[T]) Backward(scale float64) error {
	if !m.haveTrainingForward {
		return errors.New("model: Backward needs a preceding Forward with train set")
	}
	d, a, be, out := m.dims, &m.acts, m.be, &m.out
	be.Zero(m.Grads)

	// Loss head. Token rows get d(lm_loss)/dlogits, prefix rows stay zero.
	lc := m.Cfg.LCycles
	zH := a.slots[lc].out()
	for b := 0; b < d.B; b++ {
		n := 0
		for _, l := range a.labelsFull[b*d.L : (b+1)*d.L] {
			if l != kernels.IgnoreLabel {
				n++
			}
		}
		g := scale / float64(max(n, 1))
		for t := 0; t < d.L; t++ {
			a.gradScale[b*d.L+t] = g
		}
	}
	be.StablemaxCrossEntropy(a.lossFull, a.dLogitsFull, a.logitsFull, a.labelsFull, a.gradScale, d.N, d.V)
	dz := a.dZ
	be.Gemm(true, false, d.V, d.h, d.N, 1, a.dLogitsFull, d.V, zH, d.h, 1, m.gLMHead, d.h)
	be.Gemm(false, false, d.N, d.h, d.V, 1, a.dLogitsFull, d.V, m.lmHead, d.h, 0, dz, d.h)
	// q_head: 0.5·BCE(q_halt, seq_correct); q_continue gets no loss. The
	// per-row gradients dq [B, 2] go through two products over position 0
	// of every row (stride L·h), as in the forward.
	var gBias T
	for b := 0; b < d.B; b++ {
		var y T
		if a.seqCorrect[b] {
			y = 1
		}
		_, g := kernels.BCEWithLogits(out.QHalt[b], y)
		g *= T(0.5 * scale)
		a.dq[2*b], a.dq[2*b+1] = g, 0
		gBias += g
	}
	m.gQB[0], m.gQB[1] = gBias, 0 // the gradients were just zeroed
	be.ToDevice(a.dq)
	be.ToDevice(m.gQB)
	be.Gemm(true, false, 2, d.h, d.B, 1, a.dq, 2, zH, d.L*d.h, 1, m.gQW, d.h)
	be.Gemm(false, false, d.B, d.h, 2, 1, a.dq, 2, m.qW, d.h, 1, dz, d.L*d.h)

	// z_H = net(z_H + z_L): the gradient reaches z_L only.
	m.netBackward(&a.slots[lc], dz)
	// z_L = net(z_L + z_H + x), L_cycles times: each call passes its input
	// gradient to the previous z_L and to x.
	be.Zero(a.dX)
	for j := lc - 1; j >= 0; j-- {
		m.netBackward(&a.slots[j], dz)
		be.Add(a.dX, a.dX, dz)
	}
	m.embeddingBackward(a.dX)
	return m.be.Err()
}

// netBackward replaces g (gradient of the net output) by the gradient of
// the net input u, accumulating weight gradients.
func (m *Model[T]) netBackward(s *slot[T], g []T) {
	for i := len(s.blocks) - 1; i >= 0; i-- {
		m.blockBackward(&m.layers[i], &s.blocks[i], g)
	}
}

// blockBackward replaces g, the gradient of the block output y2, by the
// gradient of the block input.
func (m *Model[T]) blockBackward(l *layerParams[T], a *blockActs[T], g []T) {
	d, be, s := m.dims, m.be, &m.acts
	nh := d.N * d.h
	// y2 = norm(r2), r2 = y1 + act·Wdᵀ, act = SwiGLU(y1·Wguᵀ).
	dR := s.dR[:nh]
	be.RMSNormBackward(dR, g, a.y2, a.rstd2, d.N, d.h)
	be.Gemm(true, false, d.h, d.I, d.N, 1, dR, d.h, a.act, d.I, 1, l.gd, d.I)
	dAct, dGU := s.dAct[:d.N*d.I], s.dGU[:d.N*2*d.I]
	be.Gemm(false, false, d.N, d.I, d.h, 1, dR, d.h, l.down, d.I, 0, dAct, d.I)
	be.SwiGLUBackward(dGU, dAct, a.gu, d.N, d.I)
	be.Gemm(true, false, 2*d.I, d.h, d.N, 1, dGU, 2*d.I, a.y1, d.h, 1, l.ggu, d.h)
	dY1 := s.dY1[:nh]
	be.Copy(dY1, dR)
	be.Gemm(false, false, d.N, d.h, 2*d.I, 1, dGU, 2*d.I, l.gu, d.h, 1, dY1, d.h)

	if m.Cfg.MLPT {
		// y1 = transpose(norm_L(t + SwiGLU_L(t))), t = transpose(in).
		bh := d.B * d.h
		dT := s.dR[:nh]
		be.Transpose(dT, dY1, d.B, d.L, d.h)
		dTr := s.dO[:nh]
		be.RMSNormBackward(dTr, dT, a.tout, a.trstd, bh, d.L)
		be.Gemm(true, false, d.L, d.It, bh, 1, dTr, d.L, a.tact, d.It, 1, l.gtd, d.It)
		dTact, dTgu := s.dAct[:bh*d.It], s.dGU[:bh*2*d.It]
		be.Gemm(false, false, bh, d.It, d.L, 1, dTr, d.L, l.td, d.It, 0, dTact, d.It)
		be.SwiGLUBackward(dTgu, dTact, a.tgu, bh, d.It)
		be.Gemm(true, false, 2*d.It, d.L, bh, 1, dTgu, 2*d.It, a.tin, d.L, 1, l.gtgu, d.L)
		dTin := dY1
		be.Copy(dTin, dTr)
		be.Gemm(false, false, bh, d.L, 2*d.It, 1, dTgu, 2*d.It, l.tgu, d.L, 1, dTin, d.L)
		be.Transpose(g, dTin, d.B, d.h, d.L)
		return
	}
	// y1 = norm(r1), r1 = in + attn·Woᵀ, attn = Attention(RoPE(in·Wqkvᵀ)).
	be.RMSNormBackward(dR, dY1, a.y1, a.rstd1, d.N, d.h)
	be.Gemm(true, false, d.h, d.h, d.N, 1, dR, d.h, a.attn, d.h, 1, l.go_, d.h)
	dO := s.dO[:nh]
	be.Gemm(false, false, d.N, d.h, d.h, 1, dR, d.h, l.o, d.h, 0, dO, d.h)
	be.AttentionBackward(s.dQKV, s.dProbs, dO, a.probs, a.qkv, d.B, d.L, d.H, d.d)
	if m.cos != nil {
		be.RoPEBackward(s.dQKV, d.N, 3*d.h, 2*d.H, d.d, d.L, m.cos, m.sin)
	}
	be.Gemm(true, false, 3*d.h, d.h, d.N, 1, s.dQKV, 3*d.h, a.in, d.h, 1, l.gqkv, d.h)
	be.Copy(g, dR)
	be.Gemm(false, false, d.N, d.h, 3*d.h, 1, s.dQKV, 3*d.h, l.qkv, d.h, 1, g, d.h)
}

// embeddingBackward turns dx, the gradient of the input embeddings, into the
// token-embedding gradient, the puzzle-embedding row gradients and (learned
// positions) the position-embedding gradient.
func (m *Model[T]) embeddingBackward(dx []T) {
	d, a := m.dims, &m.acts
	scale := T(math.Sqrt(float64(d.h)))
	tokScale := scale
	if m.embedPos != nil {
		// x = sqrt(h)·(0.707106781·(e + pos))
		tokScale = scale * T(0.707106781)
		m.be.ToHost(dx)
		clear(m.gEmbPos) // zeroed on the device with the other gradients
		for b := 0; b < d.B; b++ {
			for i, v := range dx[b*d.L*d.h : (b+1)*d.L*d.h] {
				m.gEmbPos[i] += tokScale * v
			}
		}
		m.be.ToDevice(m.gEmbPos)
	}
	// The token rows side by side (in the forward's residual scratch, unused
	// by the backward), then one scatter over every row's tokens.
	tokens := a.tmp[:d.B*d.S*d.h]
	m.be.CopyRows(tokens, d.S*d.h, dx[d.P*d.h:], d.L*d.h, d.B, d.S*d.h)
	m.be.ScatterAdd(m.gEmbed, tokens, a.inputs, d.h, tokScale)
	if nd := m.Cfg.PuzzleEmbNdim; nd > 0 {
		// The rows' first nd values side by side, scaled where they lie.
		m.be.CopyRows(m.PuzzleEmbGrad, nd, dx, d.L*d.h, d.B, nd)
		m.be.ToHost(m.PuzzleEmbGrad) // sign-SGD runs on the host
		for i, v := range m.PuzzleEmbGrad {
			m.PuzzleEmbGrad[i] = tokScale * v
		}
	}
}
