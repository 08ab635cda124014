package train

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/tinyrecursion/trm/model"
	"github.com/tinyrecursion/trm/train/dist"
)

// A data-parallel run (Options.Group with more than one rank) follows the
// reference's DDP: every rank trains the same weights on its slice of each
// global batch, the gradients of the dense parameters are summed over the
// ranks before the optimiser steps, the puzzle-embedding gradients of every
// rank are gathered so each rank applies the same sign-SGD step, and the
// metrics are summed on rank 0, which alone logs, evaluates the ARC votes
// and writes checkpoints. Every rank runs the same collectives in the same
// order; a rank that fails tells the others through agree, so that all
// ranks stop with the cause instead of waiting for each other.

func (t *Trainer) rank() int { return groupRank(t.opts.Group) }

func (t *Trainer) worldSize() int { return groupSize(t.opts.Group) }

// lead reports whether this process logs, writes metrics and checkpoints.
func (t *Trainer) lead() bool { return t.rank() == 0 }

// distributed reports whether gradients and metrics cross processes.
func (t *Trainer) distributed() bool { return t.worldSize() > 1 }

func groupRank(g *dist.Group) int {
	if g == nil {
		return 0
	}
	return g.Rank()
}

func groupSize(g *dist.Group) int {
	if g == nil {
		return 1
	}
	return g.Size()
}

// rowsPerRank is each rank's share of a global batch, which must split
// evenly over the job's processes.
func rowsPerRank(cfg *Config, g *dist.Group) (int, error) {
	world := groupSize(g)
	if cfg.GlobalBatchSize%world != 0 {
		return 0, fmt.Errorf("global_batch_size %d is not divisible by the %d processes of the job", cfg.GlobalBatchSize, world)
	}
	return cfg.GlobalBatchSize / world, nil
}

// agree returns err on the rank that had it and, on every other rank, an
// error naming the first rank that failed; nil when none did. Single
// processes get err back.
func agree(g *dist.Group, err error) error {
	if groupSize(g) == 1 {
		return err
	}
	all, gerr := g.AllGather(outcome(nil, err))
	if err != nil || gerr != nil {
		return errors.Join(err, gerr)
	}
	for r, m := range all {
		if _, err := readOutcome(r, m); err != nil {
			return err
		}
	}
	return nil
}

// outcome encodes a rank's result for a collective: 0 and the payload, or
// 1 and the error's text.
func outcome(payload []byte, err error) []byte {
	if err != nil {
		return append([]byte{1}, err.Error()...)
	}
	return append([]byte{0}, payload...)
}

// readOutcome decodes rank r's outcome.
func readOutcome(r int, m []byte) ([]byte, error) {
	switch {
	case len(m) == 0:
		return nil, fmt.Errorf("rank %d sent nothing", r)
	case m[0] != 0:
		return nil, fmt.Errorf("rank %d failed: %s", r, m[1:])
	}
	return m[1:], nil
}

// agreeConfig checks that every rank resolved the same configuration: the
// ranks of a job are started with one command line, and a difference
// (another data path on one node, say) would train silently wrong.
func agreeConfig(g *dist.Group, cfg *Config) error {
	sum := sha256.Sum256(cfg.YAML())
	all, err := g.AllGather(sum[:])
	if err != nil {
		return err
	}
	for r, s := range all {
		if string(s) != string(sum[:]) {
			return fmt.Errorf("rank %d resolved another configuration than rank %d; start every rank with the same command line", r, g.Rank())
		}
	}
	return nil
}

// broadcastWeights gives every rank rank 0's weights and buffers, as the
// reference does after initialising (and loading a checkpoint on) rank 0.
func (t *Trainer) broadcastWeights() error {
	g := t.opts.Group
	var payload []byte
	if t.lead() {
		t.m.SyncToHost()
		if err := t.be.Err(); err != nil {
			return err
		}
		for _, x := range t.m.Tensors() {
			payload = appendF32(payload, x.Data)
		}
	}
	payload, err := g.Broadcast(payload)
	if err != nil {
		return err
	}
	for _, x := range t.m.Tensors() {
		if len(payload) < 4*len(x.Data) {
			return fmt.Errorf("rank 0 sent %d bytes of weights too few", 4*len(x.Data)-len(payload))
		}
		decodeF32(x.Data, payload)
		payload = payload[4*len(x.Data):]
	}
	t.m.SyncToDevice()
	return t.be.Err()
}

// reduceGradients sums the dense parameters' gradients over the ranks.
func (t *Trainer) reduceGradients() error {
	t.be.ToHost(t.m.Grads)
	if err := t.be.Err(); err != nil {
		return err
	}
	if err := t.opts.Group.AllReduceSum(t.m.Grads); err != nil {
		return err
	}
	t.be.ToDevice(t.m.Grads)
	return t.be.Err()
}

// puzzleEmbStep is the reference's distributed sign-SGD: the rows and
// gradients of every rank, gathered in rank order, update every rank's copy
// of the table alike.
func (t *Trainer) puzzleEmbStep(lr float64) error {
	if !t.distributed() {
		return t.sgd.Step(t.m, lr)
	}
	nd := t.m.Cfg.PuzzleEmbNdim
	payload := appendI32(nil, t.m.PuzzleEmbIDs)
	payload = appendF32(payload, t.m.PuzzleEmbGrad)
	all, err := t.opts.Group.AllGather(payload)
	if err != nil {
		return err
	}
	var ids []int32
	var grads []float32
	for r, p := range all {
		row := 4 * (1 + nd)
		if len(p)%row != 0 {
			return fmt.Errorf("rank %d sent %d bytes of puzzle-embedding gradients, not whole rows of %d", r, len(p), row)
		}
		n := len(p) / row
		ids = append(ids, make([]int32, n)...)
		decodeI32(ids[len(ids)-n:], p)
		grads = append(grads, make([]float32, n*nd)...)
		decodeF32(grads[len(grads)-n*nd:], p[4*n:])
	}
	return t.sgd.StepGathered(t.m, ids, grads, lr)
}

// reduceMetrics sums a step's metrics over the ranks, together with whether
// any rank was asked to stop: all ranks then stop after the same step.
func (t *Trainer) reduceMetrics(m model.Metrics, stop bool) (model.Metrics, bool, error) {
	if !t.distributed() {
		return m, stop, nil
	}
	v := []float64{m.Count, m.Accuracy, m.ExactAccuracy, m.QHaltAccuracy, m.Steps, m.LMLoss, m.QHaltLoss, 0}
	if stop {
		v[7] = 1
	}
	if err := t.opts.Group.AllReduceSum64(v); err != nil {
		return m, stop, err
	}
	return model.Metrics{Count: v[0], Accuracy: v[1], ExactAccuracy: v[2], QHaltAccuracy: v[3],
		Steps: v[4], LMLoss: v[5], QHaltLoss: v[6]}, v[7] > 0, nil
}

// Ranks other than 0 keep their own carry, loader position and exploration
// stream in files of their own beside rank 0's.
var rankFilePattern = regexp.MustCompile(`^(train_state\.rank[1-9][0-9]*\.safetensors|arc_state\.rank[1-9][0-9]*\.json)$`)

// rankFile is the name of rank r's part of a checkpoint file.
func rankFile(name string, r int) string {
	if r == 0 {
		return name
	}
	switch name {
	case StateFile:
		return "train_state.rank" + strconv.Itoa(r) + ".safetensors"
	case ARCStateFile:
		return "arc_state.rank" + strconv.Itoa(r) + ".json"
	}
	panic("train: no per-rank " + name)
}

// gatherChecked gathers payloads on rank 0 together with each rank's
// failure to make its own, so rank 0 neither writes a checkpoint missing a
// rank nor waits for one that gave up.
func gatherChecked(g *dist.Group, payload []byte, err error) ([][]byte, error) {
	all, gerr := g.Gather(outcome(payload, err))
	if err != nil || gerr != nil {
		return nil, errors.Join(err, gerr)
	}
	for r, m := range all {
		if all[r], err = readOutcome(r, m); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// packPair and unpackPair carry two byte strings in one collective.
func packPair(a, b []byte) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, uint64(len(a))), append(a, b...)...)
}

func unpackPair(p []byte) (a, b []byte, err error) {
	if len(p) < 8 || binary.LittleEndian.Uint64(p) > uint64(len(p)-8) {
		return nil, nil, fmt.Errorf("malformed pair of %d bytes", len(p))
	}
	n := binary.LittleEndian.Uint64(p)
	return p[8 : 8+n], p[8+n:], nil
}
