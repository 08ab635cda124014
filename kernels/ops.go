package kernels

import (
	"math"
	"unsafe"
)

// This file holds the plain serial definitions of every operation. A backend
// splits the rows among workers and calls these on each range; they are also
// the test oracles. Functions taking lo, hi work on rows [lo, hi).

// GemmFunc is the signature of Backend.Gemm, so row-wise helpers can be
// written once over any matrix multiply.
type GemmFunc[T Float] func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// ExpFunc sets x[i] = e^x[i] in place; ExpSlice is the definition, a
// backend may pass a vectorised twin.
type ExpFunc[T Float] func(x []T)

// ExpSlice is the serial ExpFunc.
func ExpSlice[T Float](x []T) {
	for i, v := range x {
		x[i] = exp(v)
	}
}

// GemmRef is the definition of Gemm as a triple loop with a float64
// accumulator: slow, obvious, and the oracle for fast versions.
func GemmRef[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv T
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			r := T(s) * alpha
			if beta != 0 {
				r += beta * c[i*ldc+j]
			}
			c[i*ldc+j] = r
		}
	}
}

// GatherRows is Backend.Gather on output rows [lo, hi).
func GatherRows[T Float](out, table []T, ids []int32, dim int, scale T, lo, hi int) {
	for i := lo; i < hi; i++ {
		src := table[int(ids[i])*dim : int(ids[i])*dim+dim]
		dst := out[i*dim : i*dim+dim]
		for j, v := range src {
			dst[j] = scale * v
		}
	}
}

// ScatterAddCols is Backend.ScatterAdd restricted to columns [lo, hi):
// splitting by column keeps repeated ids race-free and the summation order
// fixed (rows in order).
func ScatterAddCols[T Float](dtable, dout []T, ids []int32, dim int, scale T, lo, hi int) {
	for i, id := range ids {
		dst := dtable[int(id)*dim : int(id)*dim+dim]
		src := dout[i*dim : i*dim+dim]
		for j := lo; j < hi; j++ {
			dst[j] += scale * src[j]
		}
	}
}

// AddRange writes out[i] = a[i] + b[i] for i in [lo, hi).
func AddRange[T Float](out, a, b []T, lo, hi int) {
	for i := lo; i < hi; i++ {
		out[i] = a[i] + b[i]
	}
}

// TransposeMats is Backend.Transpose on matrices [lo, hi) of the batch.
func TransposeMats[T Float](out, in []T, rows, cols, lo, hi int) {
	for b := lo; b < hi; b++ {
		src := in[b*rows*cols : (b+1)*rows*cols]
		dst := out[b*rows*cols : (b+1)*rows*cols]
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				dst[c*rows+r] = src[r*cols+c]
			}
		}
	}
}

// RMSNormRows is Backend.RMSNorm on rows [lo, hi). The mean square is
// accumulated in float64, in index order; the scale is applied in T.
//
// Rows go four at a time: each row's sum is still added in index order,
// so the result is the same as one row at a time, but four chains of
// dependent float64 additions overlap, and their latency (not memory) is
// what bounds this loop.
func RMSNormRows[T Float](out, rstd, in []T, dim int, eps float64, lo, hi int) {
	r := lo
	for ; r+4 <= hi; r += 4 {
		x := in[r*dim : (r+4)*dim]
		x0, x1, x2, x3 := x[:dim], x[dim:2*dim], x[2*dim:3*dim], x[3*dim:4*dim]
		var s0, s1, s2, s3 float64
		for i := range x0 {
			v0, v1, v2, v3 := float64(x0[i]), float64(x1[i]), float64(x2[i]), float64(x3[i])
			s0 += v0 * v0
			s1 += v1 * v1
			s2 += v2 * v2
			s3 += v3 * v3
		}
		for k, ss := range [4]float64{s0, s1, s2, s3} {
			rstd[r+k] = scaleRow(out[(r+k)*dim:(r+k+1)*dim], x[k*dim:(k+1)*dim], ss, eps)
		}
	}
	for ; r < hi; r++ {
		x := in[r*dim : r*dim+dim]
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		rstd[r] = scaleRow(out[r*dim:r*dim+dim], x, ss, eps)
	}
}

// scaleRow writes y = x·s with s = 1/sqrt(ss/len(x) + eps) and returns s.
func scaleRow[T Float](y, x []T, ss, eps float64) T {
	s := T(1 / math.Sqrt(ss/float64(len(x))+eps))
	for i, v := range x {
		y[i] = v * s
	}
	return s
}

// AddRMSNormRows is Backend.AddRMSNorm on rows [lo, hi): the sums are
// written to out (rounded to T, as AddRange writes them) and normalised in
// place, so that a backend adds and normalises each worker's rows back to
// back in one dispatch; the result equals Add then RMSNorm bit for bit. out
// may alias a or b. (Alternating add and norm every four rows measured
// slower.)
func AddRMSNormRows[T Float](out, rstd, a, b []T, dim int, eps float64, lo, hi int) {
	AddRange(out, a, b, lo*dim, hi*dim)
	RMSNormRows(out, rstd, out, dim, eps, lo, hi)
}

// RMSNormBackwardRows is Backend.RMSNormBackward on rows [lo, hi):
// din = rstd·(dout - y·mean(dout·y)), with y the forward output. The dot
// product runs four rows at a time, as in RMSNormRows, each in index order.
func RMSNormBackwardRows[T Float](din, dout, out, rstd []T, dim int, lo, hi int) {
	r := lo
	for ; r+4 <= hi; r += 4 {
		dy, y := dout[r*dim:(r+4)*dim], out[r*dim:(r+4)*dim]
		dy0, dy1, dy2, dy3 := dy[:dim], dy[dim:2*dim], dy[2*dim:3*dim], dy[3*dim:4*dim]
		y0, y1, y2, y3 := y[:dim], y[dim:2*dim], y[2*dim:3*dim], y[3*dim:4*dim]
		var d0, d1, d2, d3 float64
		for i := range dy0 {
			d0 += float64(dy0[i]) * float64(y0[i])
			d1 += float64(dy1[i]) * float64(y1[i])
			d2 += float64(dy2[i]) * float64(y2[i])
			d3 += float64(dy3[i]) * float64(y3[i])
		}
		for k, dot := range [4]float64{d0, d1, d2, d3} {
			o := (r + k) * dim
			backRow(din[o:o+dim], dy[k*dim:(k+1)*dim], y[k*dim:(k+1)*dim], rstd[r+k], dot)
		}
	}
	for ; r < hi; r++ {
		dy, y := dout[r*dim:r*dim+dim], out[r*dim:r*dim+dim]
		var dot float64
		for i := range dy {
			dot += float64(dy[i]) * float64(y[i])
		}
		backRow(din[r*dim:r*dim+dim], dy, y, rstd[r], dot)
	}
}

// backRow writes dx = s·(dy - y·dot/len(dy)).
func backRow[T Float](dx, dy, y []T, s T, dot float64) {
	mean := T(dot / float64(len(dy)))
	for i := range dy {
		dx[i] = s * (dy[i] - y[i]*mean)
	}
}

// RoPETables returns the reference's cos and sin caches [seq, headDim]:
// inv_freq[i] = 1/theta^(2i/d) and angle t·inv_freq[i] in float32, the
// frequencies repeated for both halves.
func RoPETables[T Float](seq, headDim int, theta float64) (cos, sin []T) {
	cos = make([]T, seq*headDim)
	sin = make([]T, seq*headDim)
	half := headDim / 2
	for i := 0; i < half; i++ {
		inv := 1 / float32(math.Pow(theta, float64(float32(2*i)/float32(headDim))))
		for t := 0; t < seq; t++ {
			a := float64(float32(t) * inv)
			c, s := T(float32(math.Cos(a))), T(float32(math.Sin(a)))
			cos[t*headDim+i], cos[t*headDim+half+i] = c, c
			sin[t*headDim+i], sin[t*headDim+half+i] = s, s
		}
	}
	return cos, sin
}

// RoPERows is Backend.RoPE on rows [lo, hi), "rotate half" convention:
// x' = x·cos + rotate_half(x)·sin with rotate_half(x) = (-x[d/2:], x[:d/2]).
func RoPERows[T Float](x []T, stride, heads, headDim, seq int, cos, sin []T, lo, hi int) {
	half := headDim / 2
	for r := lo; r < hi; r++ {
		c := cos[(r%seq)*headDim : (r%seq+1)*headDim]
		s := sin[(r%seq)*headDim : (r%seq+1)*headDim]
		for h := 0; h < heads; h++ {
			v := x[r*stride+h*headDim : r*stride+(h+1)*headDim]
			for i := 0; i < half; i++ {
				x1, x2 := v[i], v[i+half]
				v[i] = x1*c[i] - x2*s[i]
				v[i+half] = x2*c[i+half] + x1*s[i+half]
			}
		}
	}
}

// RoPEBackwardRows is Backend.RoPEBackward on rows [lo, hi).
func RoPEBackwardRows[T Float](dx []T, stride, heads, headDim, seq int, cos, sin []T, lo, hi int) {
	half := headDim / 2
	for r := lo; r < hi; r++ {
		c := cos[(r%seq)*headDim : (r%seq+1)*headDim]
		s := sin[(r%seq)*headDim : (r%seq+1)*headDim]
		for h := 0; h < heads; h++ {
			v := dx[r*stride+h*headDim : r*stride+(h+1)*headDim]
			for i := 0; i < half; i++ {
				d1, d2 := v[i], v[i+half]
				v[i] = d1*c[i] + d2*s[i+half]
				v[i+half] = d2*c[i+half] - d1*s[i]
			}
		}
	}
}

// AttentionPair computes attention for one (batch b, head h) pair with the
// given matrix multiply; see Backend.Attention for the layouts.
func AttentionPair[T Float](gemm GemmFunc[T], softmax SoftmaxFunc[T], out, probs, qkv []T, seq, heads, headDim, b, h int) {
	width := heads * headDim
	ld := 3 * width
	base := b * seq * ld
	q := qkv[base+h*headDim:]
	k := qkv[base+width+h*headDim:]
	v := qkv[base+2*width+h*headDim:]
	p := probs[(b*heads+h)*seq*seq : (b*heads+h+1)*seq*seq]
	scale := T(1 / math.Sqrt(float64(headDim)))
	gemm(false, true, seq, seq, headDim, scale, q, ld, k, ld, 0, p, seq)
	for i := 0; i < seq; i++ {
		softmax(p[i*seq : (i+1)*seq])
	}
	gemm(false, false, seq, headDim, seq, 1, p, seq, v, ld, 0, out[b*seq*width+h*headDim:], width)
}

// SoftmaxFunc replaces a row by its softmax; SoftmaxRow is the definition.
type SoftmaxFunc[T Float] func(row []T)

// SoftmaxRow replaces row by softmax(row), subtracting the maximum first
// and summing in float64.
func SoftmaxRow[T Float](row []T) {
	mx := row[0]
	for _, v := range row[1:] {
		mx = max(mx, v)
	}
	for i := range row {
		row[i] -= mx
	}
	ExpSlice(row)
	var sum float64
	for _, e := range row {
		sum += float64(e)
	}
	inv := T(1 / sum)
	for i := range row {
		row[i] *= inv
	}
}

// AttentionBackwardPair is the backward of AttentionPair: with P the saved
// probabilities, dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P∘(dP - rowsum(dP∘P)),
// dQ = scale·dS·K, dK = scale·dSᵀ·Q.
func AttentionBackwardPair[T Float](gemm GemmFunc[T], dqkv, dprobs, dout, probs, qkv []T, seq, heads, headDim, b, h int) {
	width := heads * headDim
	ld := 3 * width
	base := b * seq * ld
	off := h * headDim
	p := probs[(b*heads+h)*seq*seq : (b*heads+h+1)*seq*seq]
	dp := dprobs[(b*heads+h)*seq*seq : (b*heads+h+1)*seq*seq]
	do := dout[b*seq*width+off:]
	scale := T(1 / math.Sqrt(float64(headDim)))
	gemm(true, false, seq, headDim, seq, 1, p, seq, do, width, 0, dqkv[base+2*width+off:], ld)
	gemm(false, true, seq, seq, headDim, 1, do, width, qkv[base+2*width+off:], ld, 0, dp, seq)
	for i := 0; i < seq; i++ {
		pr, dr := p[i*seq:(i+1)*seq], dp[i*seq:(i+1)*seq]
		var dot float64
		for j := range pr {
			dot += float64(pr[j]) * float64(dr[j])
		}
		d := T(dot)
		for j := range pr {
			dr[j] = pr[j] * (dr[j] - d)
		}
	}
	gemm(false, false, seq, headDim, seq, scale, dp, seq, qkv[base+width+off:], ld, 0, dqkv[base+off:], ld)
	gemm(true, false, seq, headDim, seq, scale, dp, seq, qkv[base+off:], ld, 0, dqkv[base+width+off:], ld)
}

// SwiGLURows is Backend.SwiGLU on rows [lo, hi):
// silu(g)·u = g·u/(1 + e^-g).
func SwiGLURows[T Float](out, gateUp []T, inter int, expv ExpFunc[T], lo, hi int) {
	for r := lo; r < hi; r++ {
		g := gateUp[r*2*inter : r*2*inter+inter]
		u := gateUp[r*2*inter+inter : (r+1)*2*inter]
		o := out[r*inter : (r+1)*inter]
		for i := range o {
			o[i] = -g[i]
		}
		expv(o)
		for i := range o {
			o[i] = g[i] * u[i] / (1 + o[i])
		}
	}
}

// SwiGLUBackwardRows is Backend.SwiGLUBackward on rows [lo, hi):
// d gate = dout·up·σ(g)(1 + g(1-σ(g))), d up = dout·silu(g).
func SwiGLUBackwardRows[T Float](dgateUp, dout, gateUp []T, inter int, expv ExpFunc[T], lo, hi int) {
	for r := lo; r < hi; r++ {
		g := gateUp[r*2*inter : r*2*inter+inter]
		u := gateUp[r*2*inter+inter : (r+1)*2*inter]
		dg := dgateUp[r*2*inter : r*2*inter+inter]
		du := dgateUp[r*2*inter+inter : (r+1)*2*inter]
		d := dout[r*inter : (r+1)*inter]
		for i := range du {
			du[i] = -g[i]
		}
		expv(du)
		for i := range d {
			s := 1 / (1 + du[i])
			du[i] = d[i] * g[i] * s
			dg[i] = d[i] * u[i] * s * (1 + g[i]*(1-s))
		}
	}
}

func sigmoid[T Float](x T) T {
	return 1 / (1 + exp(-x))
}

// exp is e^x in T: float64 uses math.Exp, float32 the single-precision
// polynomial below, which is several times faster and as accurate as the
// vectorised exp of the reference's CPU kernels (about 1 ulp).
func exp[T Float](x T) T {
	if unsafe.Sizeof(x) == 4 {
		return T(expf32(float32(x)))
	}
	return T(math.Exp(float64(x)))
}

// expf32 reduces x = k·ln2 + r with |r| <= ln2/2 (ln2 split in two parts
// so k·ln2 is exact), evaluates a degree-7 minimax polynomial for e^r
// (Cephes' expf coefficients) and scales by 2^k. Results below the smallest
// normal float32 flush to zero.
func expf32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	switch {
	case x != x:
		return x
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -87.33654:
		return 0
	}
	t := x * log2e
	if t < 0 {
		t -= 0.5
	} else {
		t += 0.5
	}
	k := int32(t)
	fk := float32(k)
	r := x - fk*c1 - fk*c2
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	if k > 127 { // x just below the overflow bound: scale in two steps
		return y * 2 * math.Float32frombits(uint32(k-1+127)<<23)
	}
	if k < -126 {
		return y * 0.5 * math.Float32frombits(uint32(k+1+127)<<23)
	}
	return y * math.Float32frombits(uint32(k+127)<<23)
}

// IgnoreLabel marks a label that contributes no loss.
const IgnoreLabel = -100

// stablemaxS is the reference's s(x): x+1 for x >= 0, 1/(1-x+1e-30) below.
// It returns s and ds/dx.
func stablemaxS(x float64) (s, ds float64) {
	if x >= 0 {
		return x + 1, 1
	}
	s = 1 / (1 - x + 1e-30)
	return s, s * s
}

// StablemaxRows is Backend.StablemaxCrossEntropy on rows [lo, hi), in
// float64 as the reference: logp[v] = log(s(x_v)/Σ_u s(x_u)).
func StablemaxRows[T Float](loss []float64, dlogits, logits []T, labels []int32, gradScale []float64, vocab int, lo, hi int) {
	for r := lo; r < hi; r++ {
		x := logits[r*vocab : (r+1)*vocab]
		var sum float64
		for _, v := range x {
			s, _ := stablemaxS(float64(v))
			sum += s
		}
		label := int(labels[r])
		if label == IgnoreLabel {
			loss[r] = 0
		} else {
			s, _ := stablemaxS(float64(x[label]))
			loss[r] = -math.Log(s / sum)
		}
		if dlogits == nil {
			continue
		}
		d := dlogits[r*vocab : (r+1)*vocab]
		if label == IgnoreLabel {
			clear(d)
			continue
		}
		g := gradScale[r]
		for v, xv := range x {
			_, ds := stablemaxS(float64(xv))
			grad := ds / sum
			if v == label {
				s, _ := stablemaxS(float64(xv))
				grad -= ds / s
			}
			d[v] = T(g * grad)
		}
	}
}

// SoftmaxRows is Backend.SoftmaxCrossEntropy on rows [lo, hi), in float64.
func SoftmaxRows[T Float](loss []float64, dlogits, logits []T, labels []int32, gradScale []float64, vocab int, lo, hi int) {
	for r := lo; r < hi; r++ {
		x := logits[r*vocab : (r+1)*vocab]
		mx := float64(x[0])
		for _, v := range x[1:] {
			mx = max(mx, float64(v))
		}
		var sum float64
		for _, v := range x {
			sum += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(sum)
		label := int(labels[r])
		if label == IgnoreLabel {
			loss[r] = 0
		} else {
			loss[r] = lse - float64(x[label])
		}
		if dlogits == nil {
			continue
		}
		d := dlogits[r*vocab : (r+1)*vocab]
		if label == IgnoreLabel {
			clear(d)
			continue
		}
		for v, xv := range x {
			grad := math.Exp(float64(xv) - lse)
			if v == label {
				grad--
			}
			d[v] = T(gradScale[r] * grad)
		}
	}
}

// BCEWithLogits returns max(x,0) - x·y + log(1+exp(-|x|)) and its derivative
// σ(x) - y, computed in T as the reference's fp32 loss.
func BCEWithLogits[T Float](x, y T) (loss, grad T) {
	ax := x
	if ax < 0 {
		ax = -ax
	}
	loss = max(x, 0) - x*y + T(math.Log1p(math.Exp(-float64(ax))))
	return loss, sigmoid(x) - y
}

// AdamATan2Scalars are the per-tensor constants of one AdamATan2 step,
// computed in float64 from the hyperparameters and the step count and then
// rounded to the element type, as the reference's fused kernel does.
type AdamATan2Scalars struct {
	LR, Decay, T1, T2, RBC1, SBC2 float64
}

// NewAdamATan2Scalars returns the constants for 1-based step `step`.
func NewAdamATan2Scalars(lr, beta1, beta2, weightDecay float64, step int) AdamATan2Scalars {
	return AdamATan2Scalars{
		LR:    lr,
		Decay: 1 - lr*weightDecay,
		T1:    1 - beta1,
		T2:    1 - beta2,
		RBC1:  1 / (1 - math.Pow(beta1, float64(step))),
		SBC2:  math.Sqrt(1 - math.Pow(beta2, float64(step))),
	}
}

// AdamATan2Range applies the update to elements [lo, hi): decay first, then
// the moment lerps, then p -= lr·atan2(rbc1·m, sqrt(v)/sbc2). Every operation
// is rounded to T, matching the reference kernel in float32.
func AdamATan2Range[T Float](p, g, m, v []T, s AdamATan2Scalars, lo, hi int) {
	lr, decay, t1, t2 := T(s.LR), T(s.Decay), T(s.T1), T(s.T2)
	rbc1, sbc2 := T(s.RBC1), T(s.SBC2)
	for i := lo; i < hi; i++ {
		gi := g[i]
		pi := p[i] * decay
		mi := fma(t1, gi, fma(-t1, m[i], m[i]))
		vi := fma(t2, gi*gi, fma(-t2, v[i], v[i]))
		m[i], v[i] = mi, vi
		den := T(math.Sqrt(float64(vi))) / sbc2
		p[i] = pi - lr*T(math.Atan2(float64(rbc1*mi), float64(den)))
	}
}

func fma[T Float](a, b, c T) T {
	return T(math.FMA(float64(a), float64(b), float64(c)))
}

// LerpRange writes shadow = (1-mu)·p + mu·shadow on [lo, hi).
func LerpRange[T Float](shadow, p []T, mu float64, lo, hi int) {
	a, b := T(1-mu), T(mu)
	for i := lo; i < hi; i++ {
		shadow[i] = a*p[i] + b*shadow[i]
	}
}
