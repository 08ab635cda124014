package model

import (
	"errors"
	"fmt"
	"math"
)

// Config holds the reference's model configuration
// (TinyRecursiveReasoningModel_ACTV1Config). JSON names are the reference's,
// so a reference config or the golden file's config decodes directly.
type Config struct {
	BatchSize            int     `json:"batch_size"`
	SeqLen               int     `json:"seq_len"`
	PuzzleEmbNdim        int     `json:"puzzle_emb_ndim"`
	NumPuzzleIdentifiers int     `json:"num_puzzle_identifiers"`
	VocabSize            int     `json:"vocab_size"`
	HCycles              int     `json:"H_cycles"`
	LCycles              int     `json:"L_cycles"`
	HLayers              int     `json:"H_layers"` // ignored by TRM, kept for round trips
	LLayers              int     `json:"L_layers"`
	HiddenSize           int     `json:"hidden_size"`
	Expansion            float64 `json:"expansion"`
	NumHeads             int     `json:"num_heads"`
	PosEncodings         string  `json:"pos_encodings"` // "rope", "learned", anything else: none
	RMSNormEps           float64 `json:"rms_norm_eps"`
	RopeTheta            float64 `json:"rope_theta"`
	HaltMaxSteps         int     `json:"halt_max_steps"`
	HaltExplorationProb  float64 `json:"halt_exploration_prob"`
	MLPT                 bool    `json:"mlp_t"`
	PuzzleEmbLen         int     `json:"puzzle_emb_len"` // 0: ceil(puzzle_emb_ndim / hidden_size)
	NoACTContinue        bool    `json:"no_ACT_continue"`
}

// DefaultConfig returns config/arch/trm.yaml with the class defaults. The
// dataset-dependent fields (batch size, sequence length, vocabulary,
// identifiers) are left zero.
func DefaultConfig() Config {
	return Config{
		PuzzleEmbNdim:       512,
		HCycles:             3,
		LCycles:             6,
		LLayers:             2,
		HiddenSize:          512,
		Expansion:           4,
		NumHeads:            8,
		PosEncodings:        "rope",
		RMSNormEps:          1e-5,
		RopeTheta:           10000,
		HaltMaxSteps:        16,
		HaltExplorationProb: 0.1,
		PuzzleEmbLen:        16,
		NoACTContinue:       true,
	}
}

// Validate reports configurations the model cannot run.
func (c *Config) Validate() error {
	var errs []error
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s = %d, must be positive", name, v))
		}
	}
	pos("batch_size", c.BatchSize)
	pos("seq_len", c.SeqLen)
	pos("vocab_size", c.VocabSize)
	pos("H_cycles", c.HCycles)
	pos("L_layers", c.LLayers)
	pos("hidden_size", c.HiddenSize)
	pos("num_heads", c.NumHeads)
	pos("halt_max_steps", c.HaltMaxSteps)
	if c.LCycles < 0 {
		errs = append(errs, fmt.Errorf("L_cycles = %d, must not be negative", c.LCycles))
	}
	if c.Expansion <= 0 {
		errs = append(errs, fmt.Errorf("expansion = %g, must be positive", c.Expansion))
	}
	if c.NumHeads > 0 && c.HiddenSize%c.NumHeads != 0 {
		errs = append(errs, fmt.Errorf("hidden_size %d not divisible by num_heads %d", c.HiddenSize, c.NumHeads))
	} else if c.NumHeads > 0 && c.PosEncodings == "rope" && (c.HiddenSize/c.NumHeads)%2 != 0 {
		errs = append(errs, fmt.Errorf("rope needs an even head dimension, got %d", c.HiddenSize/c.NumHeads))
	}
	if c.PuzzleEmbNdim < 0 || c.PuzzleEmbLen < 0 {
		errs = append(errs, errors.New("puzzle_emb_ndim and puzzle_emb_len must not be negative"))
	}
	if c.PuzzleEmbNdim > 0 && c.NumPuzzleIdentifiers <= 0 {
		errs = append(errs, fmt.Errorf("num_puzzle_identifiers = %d with puzzle embeddings enabled", c.NumPuzzleIdentifiers))
	}
	if c.PuzzleEmbNdim == 0 && c.PuzzleEmbLen > 0 {
		// Reference quirk Q-M5: the prefix is assumed but never added.
		errs = append(errs, fmt.Errorf("puzzle_emb_ndim = 0 needs puzzle_emb_len = 0 (got %d)", c.PuzzleEmbLen))
	}
	if c.PuzzleEmbNdim > c.PrefixLen()*c.HiddenSize {
		errs = append(errs, fmt.Errorf("puzzle_emb_ndim %d exceeds puzzle_emb_len·hidden_size", c.PuzzleEmbNdim))
	}
	if !c.NoACTContinue {
		// Reference quirk Q-M3: training with no_ACT_continue false crashes.
		errs = append(errs, errors.New("no_ACT_continue = false is not supported (the reference crashes in training)"))
	}
	if c.RMSNormEps <= 0 {
		errs = append(errs, fmt.Errorf("rms_norm_eps = %g, must be positive", c.RMSNormEps))
	}
	if c.PosEncodings == "rope" && c.RopeTheta <= 0 {
		errs = append(errs, fmt.Errorf("rope_theta = %g, must be positive", c.RopeTheta))
	}
	return errors.Join(errs...)
}

// PrefixLen is P, the number of puzzle-embedding positions before the tokens.
func (c *Config) PrefixLen() int {
	if c.PuzzleEmbLen == 0 {
		return (c.PuzzleEmbNdim + c.HiddenSize - 1) / c.HiddenSize
	}
	return c.PuzzleEmbLen
}

// TotalLen is L = P + seq_len, the length of every latent sequence.
func (c *Config) TotalLen() int { return c.PrefixLen() + c.SeqLen }

// HeadDim is d = hidden_size / num_heads.
func (c *Config) HeadDim() int { return c.HiddenSize / c.NumHeads }

// Intermediate is the SwiGLU width over the hidden dimension.
func (c *Config) Intermediate() int { return swigluWidth(c.HiddenSize, c.Expansion) }

// TokenIntermediate is the SwiGLU width of the mlp_t token-mixing MLP.
func (c *Config) TokenIntermediate() int { return swigluWidth(c.TotalLen(), c.Expansion) }

// swigluWidth is find_multiple(round(expansion·width·2/3), 256) with
// Python's round-half-to-even.
func swigluWidth(width int, expansion float64) int {
	r := int(math.RoundToEven(expansion * float64(width) * 2 / 3))
	return (r + 255) / 256 * 256
}

// StepFLOPs counts the floating-point operations of the matrix products of
// one ACT step (multiply and add counted separately; attention scores and
// weighted sums included; element-wise work ignored). With train, the
// backward of the last cycle (twice its forward) is added.
func (c *Config) StepFLOPs(train bool) float64 {
	b, l, h := float64(c.BatchSize), float64(c.TotalLen()), float64(c.HiddenSize)
	n := b * l
	inter := float64(c.Intermediate())
	block := 2*n*h*2*inter + 2*n*inter*h // SwiGLU over hidden
	if c.MLPT {
		ti := float64(c.TokenIntermediate())
		block += 2*b*h*l*2*ti + 2*b*h*ti*l
	} else {
		block += 2*n*h*3*h + 2*n*h*h + 2*2*b*float64(c.NumHeads)*l*l*float64(c.HeadDim())
	}
	calls := float64(c.LCycles + 1)
	heads := 2 * n * h * float64(c.VocabSize)
	flops := float64(c.HCycles)*calls*float64(c.LLayers)*block + heads
	if train {
		flops += 2 * (calls*float64(c.LLayers)*block + heads)
	}
	return flops
}
