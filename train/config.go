package train

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tinyrecursion/trm/model"
)

// defaultsYAML is the reference's config/cfg_pretrain.yaml with its
// config/arch/trm.yaml inlined under arch, plus trm's own keys at the end.
//
//go:embed defaults.yaml
var defaultsYAML []byte

// ArchConfig is the arch section (config/arch/trm.yaml).
type ArchConfig struct {
	Name                string     `yaml:"name" json:"name"`
	Loss                LossConfig `yaml:"loss" json:"loss"`
	HaltExplorationProb float64    `yaml:"halt_exploration_prob" json:"halt_exploration_prob"`
	HaltMaxSteps        int        `yaml:"halt_max_steps" json:"halt_max_steps"`
	HCycles             int        `yaml:"H_cycles" json:"H_cycles"`
	LCycles             int        `yaml:"L_cycles" json:"L_cycles"`
	HLayers             int        `yaml:"H_layers" json:"H_layers"`
	LLayers             int        `yaml:"L_layers" json:"L_layers"`
	HiddenSize          int        `yaml:"hidden_size" json:"hidden_size"`
	NumHeads            int        `yaml:"num_heads" json:"num_heads"`
	Expansion           float64    `yaml:"expansion" json:"expansion"`
	PuzzleEmbNdim       int        `yaml:"puzzle_emb_ndim" json:"puzzle_emb_ndim"`
	PosEncodings        string     `yaml:"pos_encodings" json:"pos_encodings"`
	ForwardDtype        string     `yaml:"forward_dtype" json:"forward_dtype"`
	MLPT                bool       `yaml:"mlp_t" json:"mlp_t"`
	PuzzleEmbLen        int        `yaml:"puzzle_emb_len" json:"puzzle_emb_len"`
	NoACTContinue       bool       `yaml:"no_ACT_continue" json:"no_ACT_continue"`
	RMSNormEps          float64    `yaml:"rms_norm_eps" json:"rms_norm_eps"`
	RopeTheta           float64    `yaml:"rope_theta" json:"rope_theta"`
}

// LossConfig is arch.loss.
type LossConfig struct {
	Name     string `yaml:"name" json:"name"`
	LossType string `yaml:"loss_type" json:"loss_type"`
}

// EvaluatorConfig is one entry of evaluators, e.g. {name: arc@ARC}.
type EvaluatorConfig struct {
	Name string `yaml:"name" json:"name"`
}

// Config is the reference's pretrain configuration (spec/reference-model.md
// 1.2) with trm's additions (the keys after eval_save_outputs).
type Config struct {
	Arch                 ArchConfig        `yaml:"arch" json:"arch"`
	DataPaths            []string          `yaml:"data_paths" json:"data_paths"`
	DataPathsTest        []string          `yaml:"data_paths_test" json:"data_paths_test"`
	Evaluators           []EvaluatorConfig `yaml:"evaluators" json:"evaluators"`
	GlobalBatchSize      int               `yaml:"global_batch_size" json:"global_batch_size"`
	Epochs               int               `yaml:"epochs" json:"epochs"`
	EvalInterval         int               `yaml:"eval_interval" json:"eval_interval"`
	CheckpointEveryEval  bool              `yaml:"checkpoint_every_eval" json:"checkpoint_every_eval"`
	LR                   float64           `yaml:"lr" json:"lr"`
	LRMinRatio           float64           `yaml:"lr_min_ratio" json:"lr_min_ratio"`
	LRWarmupSteps        float64           `yaml:"lr_warmup_steps" json:"lr_warmup_steps"`
	Beta1                float64           `yaml:"beta1" json:"beta1"`
	Beta2                float64           `yaml:"beta2" json:"beta2"`
	WeightDecay          float64           `yaml:"weight_decay" json:"weight_decay"`
	PuzzleEmbWeightDecay float64           `yaml:"puzzle_emb_weight_decay" json:"puzzle_emb_weight_decay"`
	PuzzleEmbLR          float64           `yaml:"puzzle_emb_lr" json:"puzzle_emb_lr"`
	Seed                 int64             `yaml:"seed" json:"seed"`
	MinEvalInterval      int               `yaml:"min_eval_interval" json:"min_eval_interval"`
	EMA                  bool              `yaml:"ema" json:"ema"`
	EMARate              float64           `yaml:"ema_rate" json:"ema_rate"`
	FreezeWeights        bool              `yaml:"freeze_weights" json:"freeze_weights"`
	ProjectName          string            `yaml:"project_name" json:"project_name"`
	RunName              string            `yaml:"run_name" json:"run_name"`
	LoadCheckpoint       string            `yaml:"load_checkpoint" json:"load_checkpoint"`
	CheckpointPath       string            `yaml:"checkpoint_path" json:"checkpoint_path"`
	EvalSaveOutputs      []string          `yaml:"eval_save_outputs" json:"eval_save_outputs"`

	// CheckpointEverySteps also checkpoints every that many optimiser
	// steps (0: only at evaluations, as the reference).
	CheckpointEverySteps int `yaml:"checkpoint_every_steps" json:"checkpoint_every_steps"`
	// KeepCheckpoints is how many step directories a run keeps (0: all).
	KeepCheckpoints int `yaml:"keep_checkpoints" json:"keep_checkpoints"`
	// Workers is the CPU backend's goroutine count (0: all cores); results
	// do not depend on it.
	Workers int `yaml:"workers" json:"workers"`
	// Device is the compute backend: cpu, cuda (the first GPU; an error
	// when there is none) or auto (the GPU when there is one).
	Device string `yaml:"device" json:"device"`
	// GPUTF32 runs the GPU backend's matrix products in TF32 on the tensor
	// cores (cuda.MathTF32), whatever arch.forward_dtype says; the CPU
	// ignores it.
	GPUTF32 bool `yaml:"gpu_tf32" json:"gpu_tf32"`
}

// ForwardDtypes are the values of arch.forward_dtype. The reference
// computes its forward pass in that dtype; trm keeps every tensor in fp32
// and applies bfloat16 where it buys speed, to the GPU's matrix products
// (gemmMath in backend.go). The CPU computes in fp32 either way.
var ForwardDtypes = []string{"bfloat16", "float32"}

// ModelConfig is the model configuration for a dataset's metadata.
func (c *Config) ModelConfig(seqLen, vocab, numIDs int) model.Config {
	a := c.Arch
	return model.Config{
		BatchSize: c.GlobalBatchSize, SeqLen: seqLen, PuzzleEmbNdim: a.PuzzleEmbNdim,
		NumPuzzleIdentifiers: numIDs, VocabSize: vocab, HCycles: a.HCycles, LCycles: a.LCycles,
		HLayers: a.HLayers, LLayers: a.LLayers, HiddenSize: a.HiddenSize, Expansion: a.Expansion,
		NumHeads: a.NumHeads, PosEncodings: a.PosEncodings, RMSNormEps: a.RMSNormEps,
		RopeTheta: a.RopeTheta, HaltMaxSteps: a.HaltMaxSteps, HaltExplorationProb: a.HaltExplorationProb,
		MLPT: a.MLPT, PuzzleEmbLen: a.PuzzleEmbLen, NoACTContinue: a.NoACTContinue,
	}
}

// Validate reports settings the trainer cannot run, before any work.
func (c *Config) Validate() error {
	var errs []error
	for _, k := range c.EvalSaveOutputs {
		// The reference silently skips names it has no tensor for; an empty
		// file after a long evaluation would be a worse surprise.
		if err := checkKey(k, EvalOutputKeys); err != nil {
			errs = append(errs, fmt.Errorf("eval_save_outputs: %w; known: %s", err, strings.Join(EvalOutputKeys, ", ")))
		}
	}
	if len(c.EvalSaveOutputs) != len(slices.Compact(slices.Sorted(slices.Values(c.EvalSaveOutputs)))) {
		errs = append(errs, fmt.Errorf("eval_save_outputs = %v names a tensor twice", c.EvalSaveOutputs))
	}
	if len(c.DataPaths) == 0 {
		errs = append(errs, errors.New("data_paths is empty"))
	}
	if c.GlobalBatchSize <= 0 {
		errs = append(errs, fmt.Errorf("global_batch_size = %d, must be positive", c.GlobalBatchSize))
	}
	if c.Epochs <= 0 {
		errs = append(errs, fmt.Errorf("epochs = %d, must be positive", c.Epochs))
	}
	if c.EvalInterval < 0 {
		errs = append(errs, fmt.Errorf("eval_interval = %d, must not be negative", c.EvalInterval))
	} else if c.EvalInterval > 0 && c.Epochs%c.EvalInterval != 0 {
		errs = append(errs, fmt.Errorf("eval_interval = %d must divide epochs = %d", c.EvalInterval, c.Epochs))
	}
	if !strings.Contains(c.Arch.Name, "trm@") && c.Arch.Name != "trm" {
		errs = append(errs, fmt.Errorf("arch.name = %q: only the TRM architecture (recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1) is implemented", c.Arch.Name))
	}
	if c.Arch.Loss.LossType != "stablemax_cross_entropy" {
		errs = append(errs, fmt.Errorf("arch.loss.loss_type = %q: only stablemax_cross_entropy is implemented", c.Arch.Loss.LossType))
	}
	for _, e := range c.Evaluators {
		if e.Name != "arc@ARC" {
			errs = append(errs, fmt.Errorf("evaluator %q: only arc@ARC is implemented", e.Name))
		}
	}
	if !slices.Contains(Devices, c.Device) {
		errs = append(errs, fmt.Errorf("device = %q; known: %s", c.Device, strings.Join(Devices, ", ")))
	}
	if !slices.Contains(ForwardDtypes, c.Arch.ForwardDtype) {
		errs = append(errs, fmt.Errorf("arch.forward_dtype = %q; known: %s", c.Arch.ForwardDtype, strings.Join(ForwardDtypes, ", ")))
	}
	if c.EMA && (c.EMARate < 0 || c.EMARate > 1) {
		errs = append(errs, fmt.Errorf("ema_rate = %g, must be in [0, 1]", c.EMARate))
	}
	return errors.Join(errs...)
}

// EpochsPerIter is the reference's train_epochs_per_iter.
func (c *Config) EpochsPerIter() int {
	if c.EvalInterval > 0 {
		return c.EvalInterval
	}
	return c.Epochs
}

// TotalIters is the number of outer iterations (training passes).
func (c *Config) TotalIters() int { return c.Epochs / c.EpochsPerIter() }

// YAML is the resolved configuration as YAML, the form saved with a run.
//
// A float in exponent form is written with a decimal point ("1.0e-05",
// not "1e-05"): YAML 1.1 readers, PyYAML among them, take the bare form
// for a string.
func (c *Config) YAML() []byte {
	var doc yaml.Node
	if err := doc.Encode(c); err != nil {
		panic(err) // plain struct of scalars and lists: cannot fail
	}
	pointExponents(&doc)
	b, err := yaml.Marshal(&doc)
	if err != nil {
		panic(err)
	}
	return b
}

// pointExponents rewrites float scalars like 1e-05 as 1.0e-05.
func pointExponents(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!float" && !strings.Contains(n.Value, ".") {
		if i := strings.IndexAny(n.Value, "eE"); i > 0 {
			n.Value = n.Value[:i] + ".0" + n.Value[i:]
		}
	}
	for _, c := range n.Content {
		pointExponents(c)
	}
}

// LoadConfig resolves the configuration: the reference defaults, then the
// YAML file (if any), then the overrides in the reference's command-line
// syntax (key=value, dotted keys into sections, +key=value to add a key the
// defaults lack, values parsed as YAML: 1e-4, True, "[data/a,data/b]").
// Unknown keys and values of the wrong type are errors naming the key.
func LoadConfig(file string, overrides []string) (*Config, error) {
	var tree map[string]any
	if err := yaml.Unmarshal(defaultsYAML, &tree); err != nil {
		return nil, fmt.Errorf("built-in defaults: %w", err)
	}
	known := flatKeys(tree, "")
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var user map[string]any
		if err := yaml.Unmarshal(data, &user); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		for _, k := range flatKeys(user, "") {
			if err := checkKey(k, known); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
		}
		merge(tree, user)
		if _, err := decodeTree(tree); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	for _, o := range overrides {
		key, val, ok := strings.Cut(o, "=")
		if !ok {
			return nil, fmt.Errorf("override %q: want key=value", o)
		}
		key = strings.TrimLeft(key, "+~")
		if key == "arch" {
			// Selecting the architecture file: only trm exists.
			if val != "trm" {
				return nil, fmt.Errorf("override %q: only arch=trm is implemented", o)
			}
			continue
		}
		if err := checkKey(key, known); err != nil {
			return nil, fmt.Errorf("override %q: %w", o, err)
		}
		var v any
		if err := yaml.Unmarshal([]byte(val), &v); err != nil {
			return nil, fmt.Errorf("override %q: value: %w", o, err)
		}
		set(tree, strings.Split(key, "."), v)
		if _, err := decodeTree(tree); err != nil {
			return nil, fmt.Errorf("override %q: %w", o, err)
		}
	}
	c, err := decodeTree(tree)
	if err != nil {
		return nil, err
	}
	return c, c.Validate()
}

// decodeTree resolves ${...} references and decodes the tree strictly.
func decodeTree(tree map[string]any) (*Config, error) {
	resolved, err := resolveRefs(tree, tree, nil)
	if err != nil {
		return nil, err
	}
	data, err := yaml.Marshal(resolved)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("wrong type: %s", strings.Join(stripLines(te.Errors), "; "))
		}
		return nil, err
	}
	return &c, nil
}

// stripLines drops yaml's "line N:" prefixes, which point into the
// re-marshalled tree rather than the user's text.
func stripLines(msgs []string) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		if strings.HasPrefix(m, "line ") {
			if _, rest, ok := strings.Cut(m, ": "); ok {
				m = rest
			}
		}
		out[i] = m
	}
	return out
}

// resolveRefs replaces strings "${.key}" (a sibling) and "${a.b}" (from the
// root) by the referenced values, as OmegaConf interpolation does.
func resolveRefs(node any, root map[string]any, parent map[string]any) (any, error) {
	switch v := node.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			r, err := resolveRefs(x, root, v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case string:
		if !strings.HasPrefix(v, "${") || !strings.HasSuffix(v, "}") {
			return v, nil
		}
		ref := v[2 : len(v)-1]
		from := root
		if strings.HasPrefix(ref, ".") {
			from, ref = parent, ref[1:]
		}
		val, ok := lookup(from, strings.Split(ref, "."))
		if !ok {
			return nil, fmt.Errorf("reference %s: no such key", v)
		}
		return val, nil
	}
	return node, nil
}

func lookup(m map[string]any, path []string) (any, bool) {
	v, ok := m[path[0]]
	if !ok || len(path) == 1 {
		return v, ok
	}
	sub, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	return lookup(sub, path[1:])
}

func set(m map[string]any, path []string, v any) {
	if len(path) == 1 {
		m[path[0]] = v
		return
	}
	sub, ok := m[path[0]].(map[string]any)
	if !ok {
		sub = map[string]any{}
		m[path[0]] = sub
	}
	set(sub, path[1:], v)
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				merge(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}

// flatKeys lists the dotted paths of every leaf and section of m.
func flatKeys(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		out = append(out, prefix+k)
		if sub, ok := v.(map[string]any); ok {
			out = append(out, flatKeys(sub, prefix+k+".")...)
		}
	}
	slices.Sort(out)
	return out
}

// checkKey rejects a key the configuration does not have, suggesting the
// closest known one.
func checkKey(key string, known []string) error {
	if slices.Contains(known, key) {
		return nil
	}
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= max(2, len(key)/3) {
		return fmt.Errorf("unknown key %q (did you mean %q?)", key, best)
	}
	return fmt.Errorf("unknown key %q", key)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// RunDir is where the run's checkpoints and metrics go: checkpoint_path,
// or the reference's checkpoints/<Project>/<run_name>.
func (c *Config) RunDir() string {
	if c.CheckpointPath != "" {
		return c.CheckpointPath
	}
	project := c.ProjectName
	if project == "" {
		base := filepath.Base(c.DataPaths[0])
		if base != "" {
			base = strings.ToUpper(base[:1]) + strings.ToLower(base[1:])
		}
		project = base + "-ACT-torch"
	}
	return filepath.Join("checkpoints", project, c.RunName)
}
