package nprand_test

import (
	"fmt"

	"github.com/tinyrecursion/trm/nprand"
)

// The ARC builder's augmentation draw: np.random.seed(0), then
// randint(0, 8) and a permutation of the colours 1..9.
func Example() {
	r := nprand.New(0)
	trans := r.Randint(0, 8)
	colors := []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9}
	nprand.ShuffleSlice(r, colors)
	fmt.Println(trans, colors, r.Draws())
	// Output: 4 [8 3 2 5 9 7 4 1 6] 10
}

// The reference training sampler's group order for pass 1 with seed 0:
// np.random.Generator(np.random.Philox(seed=1)).permutation(20).
func ExampleGenerator_Permutation() {
	g := nprand.NewGenerator(1)
	fmt.Println(g.Permutation(20))
	// Output: [8 10 1 16 12 17 15 14 6 13 2 9 5 3 18 0 4 7 19 11]
}
