package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tinyrecursion/trm/kernels"
)

// StateDictPrefix is what the reference puts before every name in a
// checkpoint of the compiled model; without torch.compile it is
// "model.inner.".
const StateDictPrefix = "_orig_mod.model.inner."

// Tensor is a named view into one of the model's flat buffers. Grad is nil
// for buffers that are not trained by AdamATan2 (H_init, L_init and the
// puzzle-embedding table, whose gradient is kept per batch row instead).
type Tensor[T kernels.Float] struct {
	Name  string // state_dict name without prefix, e.g. "lm_head.weight"
	Shape []int
	Data  []T
	Grad  []T
}

// Len is the number of elements.
func (t *Tensor[T]) Len() int { return len(t.Data) }

// layerParams are one block's weights and their gradients; a block has
// either the attention pair (qkv, o) or the token-mixing pair (tgu, td).
type layerParams[T kernels.Float] struct {
	qkv, o, tgu, td, gu, down     []T
	gqkv, go_, gtgu, gtd, ggu, gd []T
}

// paramSpec describes one tensor of the state_dict: its shape, the standard
// deviation of its truncated-normal initialisation, and whether it lives in
// the trainable flat buffer.
type paramSpec struct {
	name      string
	shape     []int
	std       float64 // init std; 0 means zeros unless fill is set
	fill      float64
	trainable bool
	bf16      bool // initialised in bfloat16 (H_init, L_init: quirk Q-M2)
}

// stateDictSpecs lists the reference's state_dict in order.
func stateDictSpecs(c *Config) []paramSpec {
	h, v := c.HiddenSize, c.VocabSize
	lecun := 1 / math.Sqrt(float64(h))
	specs := []paramSpec{
		{name: "H_init", shape: []int{h}, std: 1, bf16: true},
		{name: "L_init", shape: []int{h}, std: 1, bf16: true},
		{name: "embed_tokens.embedding_weight", shape: []int{v, h}, std: lecun, trainable: true},
		{name: "lm_head.weight", shape: []int{v, h}, std: lecun, trainable: true},
		{name: "q_head.weight", shape: []int{2, h}, trainable: true},
		{name: "q_head.bias", shape: []int{2}, fill: -5, trainable: true},
	}
	if c.PuzzleEmbNdim > 0 {
		specs = append(specs, paramSpec{name: "puzzle_emb.weights", shape: []int{c.NumPuzzleIdentifiers, c.PuzzleEmbNdim}})
	}
	if c.PosEncodings == "learned" {
		specs = append(specs, paramSpec{name: "embed_pos.embedding_weight", shape: []int{c.TotalLen(), h}, std: lecun, trainable: true})
	}
	inter, tl, ti := c.Intermediate(), c.TotalLen(), c.TokenIntermediate()
	for i := 0; i < c.LLayers; i++ {
		p := fmt.Sprintf("L_level.layers.%d.", i)
		if c.MLPT {
			specs = append(specs,
				paramSpec{name: p + "mlp_t.gate_up_proj.weight", shape: []int{2 * ti, tl}, std: 1 / math.Sqrt(float64(tl)), trainable: true},
				paramSpec{name: p + "mlp_t.down_proj.weight", shape: []int{tl, ti}, std: 1 / math.Sqrt(float64(ti)), trainable: true})
		} else {
			specs = append(specs,
				paramSpec{name: p + "self_attn.qkv_proj.weight", shape: []int{3 * h, h}, std: lecun, trainable: true},
				paramSpec{name: p + "self_attn.o_proj.weight", shape: []int{h, h}, std: lecun, trainable: true})
		}
		specs = append(specs,
			paramSpec{name: p + "mlp.gate_up_proj.weight", shape: []int{2 * inter, h}, std: lecun, trainable: true},
			paramSpec{name: p + "mlp.down_proj.weight", shape: []int{h, inter}, std: 1 / math.Sqrt(float64(inter)), trainable: true})
	}
	return specs
}

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// Truncated normal of the reference (trunc_normal_init_ with bounds ±2):
// erfinv of a uniform draw on (erf(-√2), erf(√2)), scaled so that the final
// standard deviation is std.
const truncCompStd = 1.1368472343385565 // std / sqrt(1 - ... ) for bounds ±2

// truncNormal fills x with the reference's truncated normal of std `std`.
func truncNormal[T kernels.Float](x []T, std float64, rng *rand.Rand) {
	if std == 0 {
		clear(x)
		return
	}
	a := math.Erf(-2 / math.Sqrt2)
	b := -a
	comp := truncCompStd * std
	for i := range x {
		u := a + (b-a)*rng.Float64()
		v := math.Erfinv(u) * math.Sqrt2 * comp
		x[i] = T(math.Max(-2*comp, math.Min(2*comp, v)))
	}
}

// roundBF16 rounds a float32 value to the nearest bfloat16 (ties to even).
func roundBF16(f float32) float32 {
	b := math.Float32bits(f)
	if f != f {
		return f
	}
	b += 0x7fff + (b>>16)&1
	return math.Float32frombits(b &^ 0xffff)
}

// Seeded random streams: one per purpose, so that adding draws to one never
// shifts another.
const (
	streamInit    = 1
	streamExplore = 2
)

// streamMultiplier spreads stream ids over PCG's second seed word.
const streamMultiplier = 0x9e3779b97f4a7c15

func newStream(seed uint64, stream uint64) *rand.Rand {
	return rand.New(newPCG(seed, stream))
}

// newPCG is the source behind newStream, for streams whose state is saved.
func newPCG(seed uint64, stream uint64) *rand.PCG {
	return rand.NewPCG(seed, stream*streamMultiplier)
}
