package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/tinyrecursion/trm/kernels"
)

// Model is a TRM with its ACT wrapper and loss head, bound to one backend
// and one batch size. Parameters, gradients and every activation are
// allocated once by New; Forward and Backward reuse them.
type Model[T kernels.Float] struct {
	Cfg Config // read only: buffers are sized from it
	be  kernels.Backend[T]

	// Params holds every trainable parameter (the AdamATan2 group) in
	// state_dict order; Grads has the same layout.
	Params, Grads []T
	// PuzzleEmb is the flat puzzle-embedding table [num_puzzle_identifiers,
	// puzzle_emb_ndim], trained sparsely by SignSGD from PuzzleEmbGrad, the
	// gradient of the rows gathered by the last training Forward
	// ([batch, puzzle_emb_ndim], row i for PuzzleEmbIDs[i]).
	PuzzleEmb     []T
	PuzzleEmbGrad []T
	PuzzleEmbIDs  []int32

	tensors []*Tensor[T] // state_dict order
	byName  map[string]*Tensor[T]

	hInit, lInit        []T
	embed, gEmbed       []T
	lmHead, gLMHead     []T
	qW, gQW, qB, gQB    []T
	embedPos, gEmbPos   []T
	layers              []layerParams[T]
	cos, sin            []T
	explore             *rand.Rand
	exploreSrc          *rand.PCG // explore's state, saved in checkpoints
	dims                dims
	acts                activations[T]
	out                 StepOutput[T]
	haveTrainingForward bool
}

// dims are the derived sizes used everywhere, named as in the spec: batch
// B, tokens S, prefix P, positions L = P+S, hidden h, heads H, head width d,
// vocabulary V, SwiGLU widths I (hidden) and It (token mixing), N = B·L rows.
type dims struct {
	B, S, P, L, h, H, d, V, I, It, N int
}

// New builds a model for cfg on backend be, initialised as the reference
// does (truncated normal LeCun weights, zero q_head weight, q_head bias -5,
// zero puzzle embeddings, bf16 H_init/L_init) from the seeded stream seed.
func New[T kernels.Float](cfg Config, be kernels.Backend[T], seed uint64) (*Model[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	m := &Model[T]{Cfg: cfg, be: be, byName: map[string]*Tensor[T]{}}
	c := &m.Cfg
	m.dims = dims{B: c.BatchSize, S: c.SeqLen, P: c.PrefixLen(), L: c.TotalLen(), h: c.HiddenSize,
		H: c.NumHeads, d: c.HeadDim(), V: c.VocabSize, I: c.Intermediate(), It: c.TokenIntermediate()}
	m.dims.N = m.dims.B * m.dims.L

	specs := stateDictSpecs(c)
	nTrain := 0
	for _, s := range specs {
		if s.trainable {
			nTrain += numel(s.shape)
		}
	}
	m.Params, m.Grads = be.Alloc(nTrain), be.Alloc(nTrain)
	rng := newStream(seed, streamInit)
	off := 0
	for _, s := range specs {
		n := numel(s.shape)
		t := &Tensor[T]{Name: s.name, Shape: s.shape}
		if s.trainable {
			t.Data, t.Grad = m.Params[off:off+n:off+n], m.Grads[off:off+n:off+n]
			off += n
		} else {
			t.Data = be.Alloc(n)
		}
		truncNormal(t.Data, s.std, rng)
		if s.fill != 0 {
			for i := range t.Data {
				t.Data[i] = T(s.fill)
			}
		}
		if s.bf16 {
			for i, v := range t.Data {
				t.Data[i] = T(roundBF16(float32(v)))
			}
		}
		m.tensors = append(m.tensors, t)
		m.byName[s.name] = t
	}
	m.bindViews()
	if c.PosEncodings == "rope" {
		// In the backend's memory: a device backend reads them in its kernel.
		cos, sin := kernels.RoPETables[T](m.dims.L, m.dims.d, c.RopeTheta)
		m.cos, m.sin = be.Alloc(len(cos)), be.Alloc(len(sin))
		copy(m.cos, cos)
		copy(m.sin, sin)
	}
	m.SeedExplore(seed)
	m.allocActivations()
	m.SyncToDevice()
	be.ToDevice(m.cos)
	be.ToDevice(m.sin)
	if err := be.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// SyncToDevice sends the host values of every state_dict tensor to the
// backend's device copies: after writing weights on the host (a checkpoint,
// safetensors). SyncToHost is the other way round, before reading them. On
// the CPU both do nothing.
func (m *Model[T]) SyncToDevice() {
	m.be.ToDevice(m.Params)
	for _, t := range m.tensors {
		if t.Grad == nil { // the trainable ones are views of Params
			m.be.ToDevice(t.Data)
		}
	}
}

// SyncToHost fetches every state_dict tensor from the device (see
// SyncToDevice).
func (m *Model[T]) SyncToHost() {
	m.be.ToHost(m.Params)
	for _, t := range m.tensors {
		if t.Grad == nil {
			m.be.ToHost(t.Data)
		}
	}
}

// bindViews points the named fields at their tensors.
func (m *Model[T]) bindViews() {
	get := func(name string) ([]T, []T) {
		t := m.byName[name]
		if t == nil {
			return nil, nil
		}
		return t.Data, t.Grad
	}
	m.hInit, _ = get("H_init")
	m.lInit, _ = get("L_init")
	m.embed, m.gEmbed = get("embed_tokens.embedding_weight")
	m.lmHead, m.gLMHead = get("lm_head.weight")
	m.qW, m.gQW = get("q_head.weight")
	m.qB, m.gQB = get("q_head.bias")
	m.PuzzleEmb, _ = get("puzzle_emb.weights")
	m.embedPos, m.gEmbPos = get("embed_pos.embedding_weight")
	m.layers = make([]layerParams[T], m.Cfg.LLayers)
	for i := range m.layers {
		p := fmt.Sprintf("L_level.layers.%d.", i)
		l := &m.layers[i]
		l.qkv, l.gqkv = get(p + "self_attn.qkv_proj.weight")
		l.o, l.go_ = get(p + "self_attn.o_proj.weight")
		l.tgu, l.gtgu = get(p + "mlp_t.gate_up_proj.weight")
		l.td, l.gtd = get(p + "mlp_t.down_proj.weight")
		l.gu, l.ggu = get(p + "mlp.gate_up_proj.weight")
		l.down, l.gd = get(p + "mlp.down_proj.weight")
	}
}

// Tensors returns the state_dict in the reference's order: the trainable
// parameters (with gradients) and the persistent buffers H_init, L_init and
// puzzle_emb.weights. The views alias the model's buffers.
func (m *Model[T]) Tensors() []*Tensor[T] { return m.tensors }

// Tensor returns the state_dict entry with the given name (no prefix), or nil.
func (m *Model[T]) Tensor(name string) *Tensor[T] { return m.byName[name] }

// Backend returns the backend the model runs on.
func (m *Model[T]) Backend() kernels.Backend[T] { return m.be }

// Batch is one batch of examples as the loader delivers it: Inputs and
// Labels are [batch, seq_len] (labels -100 are ignored), PuzzleIdentifiers
// is [batch].
type Batch struct {
	Inputs            []int32
	Labels            []int32
	PuzzleIdentifiers []int32
}

// Carry is the ACT state that persists across batches: the latents, the
// step counters, the halted flags and the data each row is working on.
type Carry[T kernels.Float] struct {
	ZH, ZL []T // [batch, L, hidden]
	Steps  []int32
	Halted []bool
	Batch  // the current data of every row
}

// NewCarry returns the reference's initial_carry: every row halted, so the
// first Forward loads every row from its batch.
func (m *Model[T]) NewCarry() *Carry[T] {
	d := m.dims
	c := &Carry[T]{
		ZH: m.be.Alloc(d.N * d.h), ZL: m.be.Alloc(d.N * d.h),
		Steps: make([]int32, d.B), Halted: make([]bool, d.B),
		Batch: Batch{Inputs: make([]int32, d.B*d.S), Labels: make([]int32, d.B*d.S), PuzzleIdentifiers: make([]int32, d.B)},
	}
	c.Reset()
	return c
}

// Reset marks every row halted, so the next Forward starts all rows afresh
// (the reference's fresh carry per evaluation batch) without allocating.
func (c *Carry[T]) Reset() {
	for i := range c.Halted {
		c.Halted[i] = true
	}
}

// Metrics are the loss head's sums over the batch (divide by Count, or by
// the global batch size for the losses, as the reference's logger does).
type Metrics struct {
	Count, Accuracy, ExactAccuracy, QHaltAccuracy, Steps float64
	LMLoss, QHaltLoss                                    float64
}

// StepOutput is the result of one ACT step. Its slices belong to the model
// and are overwritten by the next Forward.
type StepOutput[T kernels.Float] struct {
	Loss             float64 // lm_loss + 0.5·q_halt_loss, summed over rows
	Metrics          Metrics
	Logits           []T     // [batch, seq_len, vocab]
	QHalt, QContinue []T     // [batch]
	Preds            []int32 // [batch, seq_len], argmax of Logits
	AllHalted        bool
}

// ExploreState returns the state of the ACT exploration stream, so that a
// checkpoint can resume the exact same halting decisions.
func (m *Model[T]) ExploreState() ([]byte, error) { return m.exploreSrc.MarshalBinary() }

// SeedExplore restarts the halting-exploration draws from stream seed: each
// rank of a data-parallel job explores its own rows independently (the
// reference seeds every rank with seed + rank), while its weights start
// from the shared seed.
func (m *Model[T]) SeedExplore(seed uint64) {
	m.exploreSrc = newPCG(seed, streamExplore)
	m.explore = rand.New(m.exploreSrc)
}

// SetExploreState restores a state returned by ExploreState.
func (m *Model[T]) SetExploreState(state []byte) error { return m.exploreSrc.UnmarshalBinary(state) }
