package train

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/tinyrecursion/trm/kernels"
	"github.com/tinyrecursion/trm/kernels/cpu"
	"github.com/tinyrecursion/trm/model"
)

// Predict runs a checkpoint's model on one example as evaluation does
// (every ACT step until it halts) and returns the predicted tokens and the
// steps taken. vocab, seqLen and numIDs come from the dataset the example
// belongs to; they must match the checkpoint.
func Predict(ctx context.Context, checkpoint string, input []byte, identifier int32, vocab, numIDs int) ([]byte, int, error) {
	ck, files, _, err := readCheckpoint(checkpoint)
	if err != nil {
		return nil, 0, err
	}
	// A batch of one: the model is sized by global_batch_size.
	cfg, err := LoadConfig(filepath.Join(ck, ConfigFile), []string{"global_batch_size=1"})
	if err != nil {
		return nil, 0, err
	}
	be := cpu.New32(cfg.Workers)
	defer be.Close()
	m, err := model.New(cfg.ModelConfig(len(input), vocab, numIDs), be, uint64(cfg.Seed))
	if err != nil {
		return nil, 0, err
	}
	if err := setWeights(filepath.Join(ck, WeightsFile), files[WeightsFile], m, false); err != nil {
		return nil, 0, err
	}
	batch := model.Batch{Inputs: make([]int32, len(input)), Labels: make([]int32, len(input)), PuzzleIdentifiers: []int32{identifier}}
	for i, t := range input {
		batch.Inputs[i] = int32(t)
		batch.Labels[i] = kernels.IgnoreLabel // no label: metrics are not wanted
	}
	carry := m.NewCarry()
	carry.Reset()
	for step := 1; ; step++ {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		out, err := m.Forward(carry, &batch, false)
		if err != nil {
			return nil, 0, err
		}
		if out.AllHalted {
			pred := make([]byte, len(out.Preds))
			for i, p := range out.Preds {
				if p < 0 || p > 255 {
					return nil, 0, fmt.Errorf("predicted token %d outside 0..255", p)
				}
				pred[i] = byte(p)
			}
			return pred, step, nil
		}
	}
}
