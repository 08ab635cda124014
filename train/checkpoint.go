package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tinyrecursion/trm/internal/atomicdir"
	"github.com/tinyrecursion/trm/internal/torchsave"
	"github.com/tinyrecursion/trm/loader"
	"github.com/tinyrecursion/trm/model"
)

// Files of a checkpoint directory <run>/step_<N>.
const (
	WeightsFile    = "model.safetensors"       // the reference's state_dict (the EMA weights when ema)
	StateFile      = "train_state.safetensors" // everything else a resume needs
	ARCStateFile   = "arc_state.json"          // aggregated ARC votes
	ConfigFile     = "config.yaml"
	ManifestFile   = "checkpoint.json" // written last: sizes and sha256 of the others
	checkpointKind = "trm-checkpoint"
)

type checkpointManifest struct {
	Format  string                   `json:"format"`
	Version int                      `json:"version"`
	Step    int                      `json:"step"`
	Files   map[string]manifestEntry `json:"files"`
}

type manifestEntry struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// weightsTensors is m's state_dict under the reference's compiled-model
// names.
func weightsTensors(m *model.Model[float32]) []stTensor {
	var out []stTensor
	for _, t := range m.Tensors() {
		out = append(out, stTensor{Name: model.StateDictPrefix + t.Name, DType: "F32", Shape: t.Shape, Data: f32Bytes(t.Data)})
	}
	return out
}

// Checkpoint writes <run>/step_<step> atomically (built in a hidden
// staging directory, swapped in when complete, as datasets are) and prunes
// old ones beyond keep_checkpoints. In a job every rank calls it: rank 0
// writes the weights, the shared state, every rank's own state (carry,
// loader position, exploration stream), which it gathers, and every rank's
// pooled ARC votes, which it holds.
func (t *Trainer) Checkpoint() error {
	if !t.distributed() {
		return t.writeCheckpoint(nil)
	}
	var state []byte
	var err error
	if !t.lead() {
		state, err = t.rankStateBytes()
	}
	all, err := gatherChecked(t.opts.Group, state, err)
	if t.lead() && err == nil {
		ranks := map[string][]byte{}
		for r := 1; r < len(all); r++ {
			ranks[rankFile(StateFile, r)] = all[r]
			if len(t.arcs) > 0 {
				ranks[rankFile(ARCStateFile, r)] = marshalARCStates(t.peerARCs[r-1])
			}
		}
		err = t.writeCheckpoint(ranks)
	}
	return agree(t.opts.Group, err)
}

// writeCheckpoint writes the checkpoint with the other ranks' files
// ranks (none in a single process).
func (t *Trainer) writeCheckpoint(ranks map[string][]byte) (err error) {
	if err := t.be.Err(); err != nil {
		// The weights after a failed device operation are not a state to resume from.
		return fmt.Errorf("no checkpoint at step %d: %w", t.step, err)
	}
	final := filepath.Join(t.Dir, "step_"+strconv.Itoa(t.step))
	tmp, err := atomicdir.Stage(final)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// Nothing half-written stays behind, least of all on a full disk.
			os.RemoveAll(tmp)
			err = atomicdir.StagedError(err, tmp, final)
		}
	}()
	// A device backend's weights on the host, for both files (with EMA, the
	// swaps leave the trained ones there again).
	t.m.SyncToHost()
	if t.ema != nil {
		t.ema.Swap()
	}
	mc, _ := json.Marshal(t.m.Cfg)
	weights := encodeSafetensors(weightsTensors(t.m), map[string]string{"format": "pt", "trm_model_config": string(mc), "step": strconv.Itoa(t.step)})
	if t.ema != nil {
		t.ema.Swap()
	}
	state, err := t.stateBytes()
	if err != nil {
		return err
	}
	files := map[string][]byte{WeightsFile: weights, StateFile: state, ConfigFile: t.Cfg.YAML()}
	if len(t.arcs) > 0 {
		files[ARCStateFile] = marshalARCStates(t.arcs)
	}
	maps.Copy(files, ranks)
	man := checkpointManifest{Format: checkpointKind, Version: 1, Step: t.step, Files: map[string]manifestEntry{}}
	for name, data := range files {
		sum := sha256.Sum256(data)
		man.Files[name] = manifestEntry{int64(len(data)), hex.EncodeToString(sum[:])}
		// Plain synced writes: the directory itself appears by rename.
		if err := atomicdir.WriteFile(filepath.Join(tmp, name), data); err != nil {
			return err
		}
	}
	mb, _ := json.MarshalIndent(man, "", "  ")
	if err := atomicdir.WriteFile(filepath.Join(tmp, ManifestFile), append(mb, '\n')); err != nil {
		return err
	}
	if err := atomicdir.Swap(tmp, final); err != nil {
		return err
	}
	return t.prune()
}

func (t *Trainer) prune() error {
	if t.Cfg.KeepCheckpoints <= 0 {
		return nil
	}
	steps, err := checkpointSteps(t.Dir)
	if err != nil {
		return err
	}
	for len(steps) > t.Cfg.KeepCheckpoints {
		if err := os.RemoveAll(filepath.Join(t.Dir, "step_"+strconv.Itoa(steps[0]))); err != nil {
			return err
		}
		steps = steps[1:]
	}
	return nil
}

// stepNumber reads N from a name step_<N>, as the reference and trm name
// checkpoints.
func stepNumber(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "step_")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// checkpointSteps lists the steps of the complete checkpoints in dir,
// ascending.
func checkpointSteps(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var steps []int
	for _, e := range entries {
		n, ok := stepNumber(e.Name())
		if !ok || !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), ManifestFile)); err == nil {
			steps = append(steps, n)
		}
	}
	slices.Sort(steps)
	return steps, nil
}

// deviceState lists the training state besides the weights that a device
// backend keeps on the device: the optimiser's moments, the carry's latents,
// the EMA shadow. A checkpoint fetches them and a restore sends them back.
func (t *Trainer) deviceState() [][]float32 {
	s := [][]float32{t.adam.M, t.adam.V, t.carry.ZH, t.carry.ZL}
	if t.ema != nil {
		s = append(s, t.ema.Shadow)
	}
	return s
}

// stateBytes encodes the training state from the host copies: the weights
// Checkpoint has just fetched, the rest of the device state fetched here;
// with rank 0's own state (rankState) in a job.
func (t *Trainer) stateBytes() ([]byte, error) {
	for _, x := range t.deviceState() {
		t.be.ToHost(x)
	}
	own, meta, err := t.rankState()
	if err != nil {
		return nil, err
	}
	n := len(t.m.Params)
	ts := append([]stTensor{
		{"params", "F32", []int{n}, f32Bytes(t.m.Params)},
		{"adam.m", "F32", []int{n}, f32Bytes(t.adam.M)},
		{"adam.v", "F32", []int{n}, f32Bytes(t.adam.V)},
		{"puzzle_emb", "F32", []int{len(t.m.PuzzleEmb)}, f32Bytes(t.m.PuzzleEmb)},
	}, own...)
	if t.ema != nil {
		ts = append(ts, stTensor{"ema.shadow", "F32", []int{n}, f32Bytes(t.ema.Shadow)})
	}
	meta["adam_steps"] = strconv.Itoa(t.adam.Steps)
	if t.distributed() {
		meta["world_size"] = strconv.Itoa(t.worldSize())
	}
	return encodeSafetensors(ts, meta), nil
}

// rankStateBytes encodes the state of a rank other than 0 for its own file.
func (t *Trainer) rankStateBytes() ([]byte, error) {
	t.be.ToHost(t.carry.ZH)
	t.be.ToHost(t.carry.ZL)
	ts, meta, err := t.rankState()
	if err != nil {
		return nil, err
	}
	return encodeSafetensors(ts, meta), nil
}

// rankState is the training state that differs between the ranks of a job
// (for a single process, its part of the state file): the ACT carry, the
// loader's position and the exploration stream, read from the host copies.
func (t *Trainer) rankState() ([]stTensor, map[string]string, error) {
	if err := t.be.Err(); err != nil {
		return nil, nil, err
	}
	ls := t.trainL.State()
	lsb, err := ls.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	rng, err := t.m.ExploreState()
	if err != nil {
		return nil, nil, err
	}
	mc := t.m.Cfg
	B, L, h := mc.BatchSize, mc.TotalLen(), mc.HiddenSize
	c := t.carry
	halted := make([]byte, len(c.Halted))
	for i, v := range c.Halted {
		if v {
			halted[i] = 1
		}
	}
	ts := []stTensor{
		{"carry.z_H", "F32", []int{B, L, h}, f32Bytes(c.ZH)},
		{"carry.z_L", "F32", []int{B, L, h}, f32Bytes(c.ZL)},
		{"carry.steps", "I32", []int{B}, i32Bytes(c.Steps)},
		{"carry.halted", "U8", []int{B}, halted},
		{"carry.inputs", "I32", []int{B, mc.SeqLen}, i32Bytes(c.Inputs)},
		{"carry.labels", "I32", []int{B, mc.SeqLen}, i32Bytes(c.Labels)},
		{"carry.puzzle_identifiers", "I32", []int{B}, i32Bytes(c.PuzzleIdentifiers)},
	}
	meta := map[string]string{
		"step":         strconv.Itoa(t.step),
		"loader_state": string(lsb),
		"explore_rng":  hex.EncodeToString(rng),
	}
	return ts, meta, nil
}

// FindCheckpoint resolves path to a complete checkpoint directory: path
// itself if it is one, else the latest step_<N> inside it.
func FindCheckpoint(path string) (string, error) {
	if _, err := os.Stat(filepath.Join(path, ManifestFile)); err == nil {
		return path, nil
	}
	steps, err := checkpointSteps(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("run directory %s does not exist", path)
		}
		return "", err
	}
	if len(steps) == 0 {
		return "", fmt.Errorf("%s holds no complete checkpoint (no step_<N>/%s)", path, ManifestFile)
	}
	return filepath.Join(path, "step_"+strconv.Itoa(steps[len(steps)-1])), nil
}

// requiredCheckpointFiles are in every checkpoint; ARCStateFile only in
// runs with an ARC evaluator.
var requiredCheckpointFiles = []string{WeightsFile, StateFile, ConfigFile}

// readCheckpoint resolves path with FindCheckpoint, verifies the
// manifest's sizes and checksums and returns the checkpoint directory, the
// files' contents and the step.
func readCheckpoint(path string) (dir string, files map[string][]byte, step int, err error) {
	if dir, err = FindCheckpoint(path); err != nil {
		return "", nil, 0, err
	}
	mp := filepath.Join(dir, ManifestFile)
	mb, err := os.ReadFile(mp)
	if err != nil {
		return "", nil, 0, err
	}
	var man checkpointManifest
	if err := json.Unmarshal(mb, &man); err != nil {
		return "", nil, 0, fmt.Errorf("%s: %w", mp, err)
	}
	if man.Format != checkpointKind || man.Version != 1 {
		return "", nil, 0, fmt.Errorf("%s: format %q version %d, want %s 1", mp, man.Format, man.Version, checkpointKind)
	}
	for _, name := range requiredCheckpointFiles {
		if _, ok := man.Files[name]; !ok {
			return "", nil, 0, fmt.Errorf("%s: lists no %s", mp, name)
		}
	}
	files = map[string][]byte{}
	for name, e := range man.Files {
		if !slices.Contains(requiredCheckpointFiles, name) && name != ARCStateFile && !rankFilePattern.MatchString(name) {
			return "", nil, 0, fmt.Errorf("%s: lists %q, which is not a checkpoint file", mp, name)
		}
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			return "", nil, 0, fmt.Errorf("checkpoint %s: %w", dir, err)
		}
		sum := sha256.Sum256(data)
		if int64(len(data)) != e.Size || hex.EncodeToString(sum[:]) != e.SHA256 {
			return "", nil, 0, fmt.Errorf("checkpoint file %s is corrupt or truncated: %d bytes, sha256 %x; the manifest says %d bytes, %s",
				p, len(data), sum, e.Size, e.SHA256)
		}
		files[name] = data
	}
	return dir, files, man.Step, nil
}

// Resume reopens the run in dir (a run directory or one of its step
// directories) from its latest checkpoint, so that Run continues exactly as
// the uninterrupted run would have.
//
// In a job every rank resumes from the same checkpoint, each with its own
// part of the state; the job must have as many ranks as the one that wrote
// it.
func Resume(ctx context.Context, dir string, opts Options) (*Trainer, error) {
	g := opts.Group
	ck, files, step, err := readCheckpoint(dir)
	var cfg *Config
	if err == nil {
		cfg, err = LoadConfig(filepath.Join(ck, ConfigFile), nil)
	}
	if err = agree(g, err); err != nil {
		return nil, err
	}
	runDir := filepath.Dir(ck)
	cfg.CheckpointPath = runDir
	if groupSize(g) > 1 {
		if err := agreeConfig(g, cfg); err != nil {
			return nil, err
		}
	}
	t, err := build(ctx, cfg, opts)
	if err = agree(g, err); err != nil {
		if t != nil {
			t.Close()
		}
		return nil, err
	}
	err = t.restore(ck, files, step)
	if err == nil && t.lead() {
		t.metrics, err = openMetrics(filepath.Join(runDir, "metrics.jsonl"), step)
	}
	if err = agree(g, err); err != nil {
		t.Close()
		return nil, err
	}
	t.logf("resumed %s at step %d", ck, step)
	return t, nil
}

func (t *Trainer) restore(ck string, files map[string][]byte, step int) error {
	if err := setWeights(filepath.Join(ck, WeightsFile), files[WeightsFile], t.m, false); err != nil {
		return err
	}
	name := filepath.Join(ck, StateFile)
	ts, meta, err := decodeSafetensors(name, files[StateFile])
	if err != nil {
		return err
	}
	world := 1
	if w, ok := meta["world_size"]; ok {
		if world, err = strconv.Atoi(w); err != nil || world < 2 {
			return fmt.Errorf("%s: world_size %q", name, w)
		}
	}
	switch {
	case world == t.worldSize():
	case world == 1:
		return fmt.Errorf("%s was written by a single process, this job has %d; resume it as one (trm train --resume %s)",
			ck, t.worldSize(), filepath.Dir(ck))
	default:
		return fmt.Errorf("%s was written by a job of %d processes, this one has %d; resume it with %d (trm train --nproc %d --resume %s)",
			ck, world, t.worldSize(), world, world, filepath.Dir(ck))
	}
	// This rank's own state: in the state file for rank 0, in its own
	// file for the others.
	own, ownMeta, ownName := ts, meta, name
	if r := t.rank(); r > 0 {
		ownName = filepath.Join(ck, rankFile(StateFile, r))
		data, ok := files[rankFile(StateFile, r)]
		if !ok {
			return fmt.Errorf("checkpoint %s holds no state for rank %d", ck, r)
		}
		if own, ownMeta, err = decodeSafetensors(ownName, data); err != nil {
			return err
		}
	}
	mc := t.m.Cfg
	B, L, h, n := mc.BatchSize, mc.TotalLen(), mc.HiddenSize, len(t.m.Params)
	f32 := func(in map[string]stTensor, k string, shape []int, dst []float32) error {
		v, ok := in[k]
		return readF32(v, ok, k, shape, dst)
	}
	i32 := func(k string, shape []int, dst []int32) error {
		v, ok := own[k]
		return readI32(v, ok, k, shape, dst)
	}
	c := t.carry
	errs := []error{
		f32(ts, "params", []int{n}, t.m.Params),
		f32(ts, "adam.m", []int{n}, t.adam.M),
		f32(ts, "adam.v", []int{n}, t.adam.V),
		f32(ts, "puzzle_emb", []int{len(t.m.PuzzleEmb)}, t.m.PuzzleEmb),
	}
	if t.ema != nil {
		errs = append(errs, f32(ts, "ema.shadow", []int{n}, t.ema.Shadow))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	errs = []error{
		f32(own, "carry.z_H", []int{B, L, h}, c.ZH),
		f32(own, "carry.z_L", []int{B, L, h}, c.ZL),
		i32("carry.steps", []int{B}, c.Steps),
		i32("carry.inputs", []int{B, mc.SeqLen}, c.Inputs),
		i32("carry.labels", []int{B, mc.SeqLen}, c.Labels),
		i32("carry.puzzle_identifiers", []int{B}, c.PuzzleIdentifiers),
	}
	if hv, ok := own["carry.halted"]; !ok || hv.DType != "U8" || len(hv.Data) != B {
		errs = append(errs, errors.New(`tensor "carry.halted" missing or not U8 [batch]`))
	} else {
		for i, v := range hv.Data {
			c.Halted[i] = v != 0
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", ownName, err)
	}
	if t.adam.Steps, err = strconv.Atoi(meta["adam_steps"]); err != nil {
		return fmt.Errorf("%s: adam_steps: %w", name, err)
	}
	checkStep := func(name string, meta map[string]string) error {
		if got, err := strconv.Atoi(meta["step"]); err != nil || got != step {
			return fmt.Errorf("%s: step %q, the manifest says %d", name, meta["step"], step)
		}
		return nil
	}
	err = checkStep(name, meta)
	if err == nil && ownName != name {
		err = checkStep(ownName, ownMeta)
	}
	if err != nil {
		return err
	}
	var ls loader.State
	if err := ls.UnmarshalBinary([]byte(ownMeta["loader_state"])); err != nil {
		return fmt.Errorf("%s: loader state: %w", ownName, err)
	}
	if err := t.trainL.Restore(ls); err != nil {
		return fmt.Errorf("%s: loader state: %w", ownName, err)
	}
	rng, err := hex.DecodeString(ownMeta["explore_rng"])
	if err == nil {
		err = t.m.SetExploreState(rng)
	}
	if err != nil {
		return fmt.Errorf("%s: explore_rng: %w", ownName, err)
	}
	if err := t.restoreARCs(ck, files); err != nil {
		return err
	}
	// What was read on the host goes to a device backend's copies.
	t.m.SyncToDevice()
	for _, x := range t.deviceState() {
		t.be.ToDevice(x)
	}
	if err := t.be.Err(); err != nil {
		return err
	}
	t.step = step
	return nil
}

// restoreARCs reads the pooled ARC votes: rank 0's own, and in a job the
// other ranks' pools, which rank 0 keeps (the other ranks hold only the
// votes of an evaluation in progress).
func (t *Trainer) restoreARCs(ck string, files map[string][]byte) error {
	if len(t.arcs) == 0 || !t.lead() {
		return nil
	}
	pools := append([][]*ARC{t.arcs}, t.peerARCs...)
	for r, arcs := range pools {
		name := rankFile(ARCStateFile, r)
		data, ok := files[name]
		if !ok {
			return fmt.Errorf("checkpoint %s holds no ARC votes (%s) for its ARC evaluator", ck, name)
		}
		if err := unmarshalARCStates(data, arcs); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(ck, name), err)
		}
	}
	return nil
}

// loadWeights loads a reference state_dict from a safetensors file (or a
// checkpoint directory's model.safetensors) into m. With resize, a
// puzzle-embedding table of another shape is replaced by its mean row
// broadcast to m's shape, as the reference's load_checkpoint does.
func loadWeights(path string, m *model.Model[float32], resize bool) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		ck, files, _, err := readCheckpoint(path)
		if err != nil {
			return err
		}
		return setWeights(filepath.Join(ck, WeightsFile), files[WeightsFile], m, resize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return setWeights(path, data, m, resize)
}

// decodeWeights reads model weights from safetensors or, as load_checkpoint
// accepts the reference's step_<N> files, from a torch.save state_dict
// (every tensor widened to float32).
func decodeWeights(name string, data []byte) (map[string]stTensor, map[string]string, error) {
	if !torchsave.Detect(data) {
		return decodeSafetensors(name, data)
	}
	tensors, err := torchsave.Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	ts := make(map[string]stTensor, len(tensors))
	for _, t := range tensors {
		ts[t.Name] = stTensor{Name: t.Name, DType: "F32", Shape: t.Shape, Data: f32Bytes(t.Values)}
	}
	return ts, nil, nil
}

func setWeights(name string, data []byte, m *model.Model[float32], resize bool) error {
	ts, meta, err := decodeWeights(name, data)
	if err != nil {
		return err
	}
	if raw, ok := meta["trm_model_config"]; ok {
		var saved model.Config
		if err := json.Unmarshal([]byte(raw), &saved); err != nil {
			return fmt.Errorf("%s: trm_model_config: %w", name, err)
		}
		if saved.VocabSize != m.Cfg.VocabSize || saved.SeqLen != m.Cfg.SeqLen {
			return fmt.Errorf("%s was trained with vocab_size %d, seq_len %d; this dataset has vocab_size %d, seq_len %d",
				name, saved.VocabSize, saved.SeqLen, m.Cfg.VocabSize, m.Cfg.SeqLen)
		}
	}
	for _, t := range m.Tensors() {
		var st stTensor
		ok := false
		for _, prefix := range []string{model.StateDictPrefix, "model.inner.", ""} {
			if st, ok = ts[prefix+t.Name]; ok {
				break
			}
		}
		if !ok {
			return fmt.Errorf("%s: no tensor %s (looked for %q with and without the prefixes %q, %q)", name, t.Name, t.Name, model.StateDictPrefix, "model.inner.")
		}
		if t.Name == "puzzle_emb.weights" && resize && !slices.Equal(st.Shape, t.Shape) && len(st.Shape) == 2 && st.Shape[0] > 0 && st.Shape[1] == t.Shape[1] {
			rows := make([]float32, st.Shape[0]*st.Shape[1])
			if err := readF32(st, true, t.Name, st.Shape, rows); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			mean := make([]float64, st.Shape[1])
			for r := range st.Shape[0] {
				for j := range mean {
					mean[j] += float64(rows[r*st.Shape[1]+j])
				}
			}
			for i := range t.Data {
				t.Data[i] = float32(mean[i%st.Shape[1]] / float64(st.Shape[0]))
			}
			continue
		}
		if err := readF32(st, true, t.Name, t.Shape, t.Data); err != nil {
			return fmt.Errorf("%s: %w (the dataset gives the model vocab_size %d, seq_len %d, %d puzzle identifiers)",
				name, err, m.Cfg.VocabSize, m.Cfg.SeqLen, m.Cfg.NumPuzzleIdentifiers)
		}
	}
	m.SyncToDevice()
	return m.Backend().Err()
}
