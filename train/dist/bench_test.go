package dist

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkAllReduceSum times summing a TRM-sized gradient (7M float32,
// the paper's model) over 2 and 4 ranks on this machine, beside the
// baseline of adding the same parts in one process (the arithmetic without
// the transfers). Bytes are the gradient's, so MB/s compare directly.
//
//	go test ./train/dist -run '^$' -bench AllReduceSum -benchtime 20x
func BenchmarkAllReduceSum(b *testing.B) {
	const n = 7_000_000
	rng := rand.New(rand.NewPCG(1, 2))
	part := mixed[float32](rng, n)
	b.Run("local sum of 2 parts (baseline)", func(b *testing.B) {
		b.SetBytes(4 * n)
		x, y := make([]float32, n), make([]float32, n)
		for b.Loop() {
			copy(x, part)
			for i, v := range part {
				x[i] = v + y[i]
			}
		}
	})
	for _, ranks := range []int{2, 4} {
		b.Run(map[int]string{2: "2 ranks", 4: "4 ranks"}[ranks], func(b *testing.B) {
			groups := start(b, ranks)
			bufs := make([][]float32, ranks)
			for r := range bufs {
				bufs[r] = make([]float32, n)
			}
			b.SetBytes(4 * n)
			for b.Loop() {
				errs := each(groups, func(g *Group) error {
					copy(bufs[g.Rank()], part)
					return g.AllReduceSum(bufs[g.Rank()])
				})
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
