package cuda

import "math"

// Plain Go references for every kernel, the oracles `trm gpu check` and
// the GPU tests compare against. Written as the obvious loops in fp64 from
// the formulas in the kernel sources (and spec/reference-model.md), on
// fp32 inputs: a bf16 kernel's inputs are rounded to bf16 first, and its
// output is compared with a tolerance for the final rounding.

func refAdd(a, b []float32) []float32 {
	out := make([]float32, len(a))
	for i := range a {
		out[i] = float32(float64(a[i]) + float64(b[i]))
	}
	return out
}

func refMul(a, b []float32) []float32 {
	out := make([]float32, len(a))
	for i := range a {
		out[i] = float32(float64(a[i]) * float64(b[i]))
	}
	return out
}

func refScale(x []float32, s float32) []float32 {
	out := make([]float32, len(x))
	for i := range x {
		out[i] = float32(float64(s) * float64(x[i]))
	}
	return out
}

func refTranspose(in []float32, batch, R, C int) []float32 {
	out := make([]float32, len(in))
	for b := 0; b < batch; b++ {
		for r := 0; r < R; r++ {
			for c := 0; c < C; c++ {
				out[b*R*C+c*R+r] = in[b*R*C+r*C+c]
			}
		}
	}
	return out
}

func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func refSwiGLU(gu []float32, rows, I int) []float32 {
	out := make([]float32, rows*I)
	for r := 0; r < rows; r++ {
		for j := 0; j < I; j++ {
			g, u := float64(gu[r*2*I+j]), float64(gu[r*2*I+I+j])
			out[r*I+j] = float32(g * sigmoid64(g) * u)
		}
	}
	return out
}

func refSwiGLUBackward(dout, gu []float32, rows, I int) []float32 {
	dgu := make([]float32, rows*2*I)
	for r := 0; r < rows; r++ {
		for j := 0; j < I; j++ {
			g, u, d := float64(gu[r*2*I+j]), float64(gu[r*2*I+I+j]), float64(dout[r*I+j])
			s := sigmoid64(g)
			dgu[r*2*I+j] = float32(d * u * s * (1 + g*(1-s)))
			dgu[r*2*I+I+j] = float32(d * g * s)
		}
	}
	return dgu
}

func refRMSNorm(x []float32, rows, D int, eps float64) (y, rstd []float32) {
	y, rstd = make([]float32, rows*D), make([]float32, rows)
	for r := 0; r < rows; r++ {
		ss := 0.0
		for _, v := range x[r*D : (r+1)*D] {
			ss += float64(v) * float64(v)
		}
		k := 1 / math.Sqrt(ss/float64(D)+eps)
		rstd[r] = float32(k)
		for j := 0; j < D; j++ {
			y[r*D+j] = float32(float64(x[r*D+j]) * k)
		}
	}
	return y, rstd
}

// refRMSNormBackward takes the forward output y and rstd, as the kernel.
func refRMSNormBackward(dy, y, rstd []float32, rows, D int) []float32 {
	dx := make([]float32, rows*D)
	for r := 0; r < rows; r++ {
		k := float64(rstd[r])
		dot := 0.0
		for j := 0; j < D; j++ {
			dot += float64(dy[r*D+j]) * float64(y[r*D+j])
		}
		dot /= float64(D)
		for j := 0; j < D; j++ {
			dx[r*D+j] = float32(k * (float64(dy[r*D+j]) - float64(y[r*D+j])*dot))
		}
	}
	return dx
}

// refRoPETables builds the reference's cos/sin caches [L, d] in fp32.
func refRoPETables(L, d int, theta float64) (cos, sin []float32) {
	cos, sin = make([]float32, L*d), make([]float32, L*d)
	for t := 0; t < L; t++ {
		for i := 0; i < d/2; i++ {
			inv := float32(1 / float32(math.Pow(theta, float64(2*i)/float64(d))))
			f := float64(float32(t) * inv)
			cos[t*d+i], cos[t*d+i+d/2] = float32(math.Cos(f)), float32(math.Cos(f))
			sin[t*d+i], sin[t*d+i+d/2] = float32(math.Sin(f)), float32(math.Sin(f))
		}
	}
	return cos, sin
}

// refRoPE applies the rotation (sign +1) or its inverse (-1) to a copy of x.
func refRoPE(x, cos, sin []float32, rows, L, heads, rowStride, d int, sign float64) []float32 {
	out := append([]float32(nil), x...)
	half := d / 2
	for r := 0; r < rows; r++ {
		pos := r % L
		for h := 0; h < heads; h++ {
			for k := 0; k < half; k++ {
				o := r*rowStride + h*d + k
				x1, x2 := float64(x[o]), float64(x[o+half])
				c1, c2 := float64(cos[pos*d+k]), float64(cos[pos*d+k+half])
				s1, s2 := sign*float64(sin[pos*d+k]), sign*float64(sin[pos*d+k+half])
				out[o] = float32(x1*c1 - x2*s1)
				out[o+half] = float32(x2*c2 + x1*s2)
			}
		}
	}
	return out
}

func refSoftmax(x []float32, rows, C int, scale float64) []float32 {
	y := make([]float32, rows*C)
	for r := 0; r < rows; r++ {
		m := math.Inf(-1)
		for _, v := range x[r*C : (r+1)*C] {
			m = math.Max(m, scale*float64(v))
		}
		s := 0.0
		for _, v := range x[r*C : (r+1)*C] {
			s += math.Exp(scale*float64(v) - m)
		}
		for j := 0; j < C; j++ {
			y[r*C+j] = float32(math.Exp(scale*float64(x[r*C+j])-m) / s)
		}
	}
	return y
}

func refSoftmaxBackward(dy, y []float32, rows, C int, scale float64) []float32 {
	dx := make([]float32, rows*C)
	for r := 0; r < rows; r++ {
		dot := 0.0
		for j := 0; j < C; j++ {
			dot += float64(dy[r*C+j]) * float64(y[r*C+j])
		}
		for j := 0; j < C; j++ {
			dx[r*C+j] = float32(scale * float64(y[r*C+j]) * (float64(dy[r*C+j]) - dot))
		}
	}
	return dx
}

func stableS(x float64) float64 {
	if x >= 0 {
		return x + 1
	}
	return 1 / (1 - x + 1e-30)
}

func stableDS(x float64) float64 {
	if x >= 0 {
		return 1
	}
	t := 1 - x + 1e-30
	return 1 / (t * t)
}

// refCrossEntropy returns per-row losses and the scaled gradient.
func refCrossEntropy(kind LossKind, logits []float32, labels []int32, rowScale []float64, rows, V, ignore int) (loss []float64, dlogits []float32) {
	loss, dlogits = make([]float64, rows), make([]float32, rows*V)
	for r := 0; r < rows; r++ {
		x := logits[r*V : (r+1)*V]
		lab := int(labels[r])
		if lab == ignore || lab < 0 || lab >= V {
			continue
		}
		sc := 1.0
		if rowScale != nil {
			sc = rowScale[r]
		}
		if kind == Stablemax {
			S := 0.0
			for _, v := range x {
				S += stableS(float64(v))
			}
			loss[r] = math.Log(S) - math.Log(stableS(float64(x[lab])))
			for v := range x {
				g := stableDS(float64(x[v])) / S
				if v == lab {
					g -= stableDS(float64(x[v])) / stableS(float64(x[v]))
				}
				dlogits[r*V+v] = float32(sc * g)
			}
			continue
		}
		m := math.Inf(-1)
		for _, v := range x {
			m = math.Max(m, float64(v))
		}
		s := 0.0
		for _, v := range x {
			s += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(s)
		loss[r] = lse - float64(x[lab])
		for v := range x {
			g := math.Exp(float64(x[v]) - lse)
			if v == lab {
				g--
			}
			dlogits[r*V+v] = float32(sc * g)
		}
	}
	return loss, dlogits
}

func refArgmax(x []float32, rows, V int) []int32 {
	out := make([]int32, rows)
	for r := 0; r < rows; r++ {
		best := 0
		for v := 1; v < V; v++ {
			if x[r*V+v] > x[r*V+best] {
				best = v
			}
		}
		out[r] = int32(best)
	}
	return out
}

func refEmbedding(table []float32, ids []int32, D, V int, scale float32) []float32 {
	out := make([]float32, len(ids)*D)
	for i, id := range ids {
		for j := 0; j < D; j++ {
			if id < 0 || int(id) >= V {
				out[i*D+j] = float32(math.NaN())
				continue
			}
			out[i*D+j] = float32(float64(scale) * float64(table[int(id)*D+j]))
		}
	}
	return out
}

// refEmbeddingBackward adds scale * dout's rows into dtable by id.
func refEmbeddingBackward(dtable, dout []float32, ids []int32, D int, scale float32) {
	acc := make([]float64, len(dtable))
	for i, id := range ids {
		for j := 0; j < D; j++ {
			acc[int(id)*D+j] += float64(dout[i*D+j])
		}
	}
	for i := range dtable {
		dtable[i] += float32(float64(scale) * acc[i])
	}
}

func refAdamATan2(p, g, m, v []float32, a AdamScalars) {
	for i := range p {
		pi := float64(p[i]) * float64(a.WdA)
		mi := float64(m[i]) + float64(a.T1)*(float64(g[i])-float64(m[i]))
		vi := float64(v[i]) + float64(a.T2)*(float64(g[i])*float64(g[i])-float64(v[i]))
		m[i], v[i] = float32(mi), float32(vi)
		p[i] = float32(pi - float64(a.LR)*math.Atan2(float64(a.Rbc1)*mi, math.Sqrt(vi)/float64(a.Sbc2)))
	}
}

func refSparseSignSGD(w, g []float32, uids []int32, D int, lr, wd float32) {
	decay := float64(1 - lr*wd)
	for u, id := range uids {
		for j := 0; j < D; j++ {
			s := 0.0
			switch gi := g[u*D+j]; {
			case gi > 0:
				s = 1
			case gi < 0:
				s = -1
			}
			o := int(id)*D + j
			w[o] = float32(float64(w[o])*decay - float64(lr)*s)
		}
	}
}

func refEMA(shadow, p []float32, mu float32) {
	for i := range shadow {
		shadow[i] = float32((1-float64(mu))*float64(p[i]) + float64(mu)*float64(shadow[i]))
	}
}

func refSum(x []float32) float64 {
	s := 0.0
	for _, v := range x {
		s += float64(v)
	}
	return s
}

func refSumRows(x []float32, R, C int) []float32 {
	out := make([]float32, C)
	for c := 0; c < C; c++ {
		s := 0.0
		for r := 0; r < R; r++ {
			s += float64(x[r*C+c])
		}
		out[c] = float32(s)
	}
	return out
}

// refGemm computes row-major C = alpha op(A) op(B) + beta C in fp64 over
// rows [lo, hi) of C.
func refGemm(g GemmArgs, a, b, c []float32, lo, hi int) {
	for i := lo; i < hi; i++ {
		for j := 0; j < g.N; j++ {
			s := 0.0
			for k := 0; k < g.K; k++ {
				var av, bv float32
				if g.TransA {
					av = a[k*g.Lda+i]
				} else {
					av = a[i*g.Lda+k]
				}
				if g.TransB {
					bv = b[j*g.Ldb+k]
				} else {
					bv = b[k*g.Ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			c[i*g.Ldc+j] = float32(float64(g.Alpha)*s + float64(g.Beta)*float64(c[i*g.Ldc+j]))
		}
	}
}
