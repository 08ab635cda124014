package train

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tinyrecursion/trm/kernels"
	"github.com/tinyrecursion/trm/kernels/cpu"
	"github.com/tinyrecursion/trm/kernels/cuda"
	"github.com/tinyrecursion/trm/model"
)

// Devices are the values of the device key.
var Devices = []string{"cpu", "cuda", "auto"}

// openBackend returns the compute backend for cfg.Device ("cpu", "cuda",
// or "auto": GPU gpu when it can be opened, else the CPU, saying why) and
// the function that releases it.
func openBackend(cfg *Config, gpu int, logf func(string, ...any)) (kernels.Backend[float32], func() error, error) {
	switch device := cfg.Device; device {
	case "cuda", "auto":
		be, closeFn, err := openCUDA(gpu, cuda.BackendOptions{Math: gemmMath(cfg)})
		if err == nil {
			return be, closeFn, nil
		}
		if device == "cuda" {
			return nil, nil, fmt.Errorf("device=cuda: %w (device=cpu trains on the CPU)", err)
		}
		logf("device=auto: no GPU backend, training on the CPU: %v", err)
	case "cpu":
	default:
		return nil, nil, fmt.Errorf("device = %q; known: %s", device, strings.Join(Devices, ", "))
	}
	be := cpu.New32(cfg.Workers)
	return be, func() error { be.Close(); return nil }, nil
}

// gemmMath is how the GPU backend multiplies: TF32 with gpu_tf32, bf16
// inputs with forward_dtype bfloat16 (the reference's default, and the
// precision of its products), else full fp32.
func gemmMath(c *Config) cuda.Math {
	switch {
	case c.GPUTF32:
		return cuda.MathTF32
	case c.Arch.ForwardDtype == "bfloat16":
		return cuda.MathBF16
	}
	return cuda.MathFP32
}

// newModel builds the model on be, saying what to change when the device
// ran out of memory: the activations grow with the rows per process and
// the sequence length.
func newModel(mc model.Config, be kernels.Backend[float32], seed int64) (*model.Model[float32], error) {
	m, err := model.New(mc, be, uint64(seed))
	var ce *cuda.Error
	if errors.As(err, &ce) && ce.Name == "CUDA_ERROR_OUT_OF_MEMORY" {
		return nil, fmt.Errorf("%w\n(the model's buffers for %d rows of %d positions do not fit: lower global_batch_size, or spread each batch over more GPUs with --nproc)", err, mc.BatchSize, mc.TotalLen())
	}
	return m, err
}

// openCUDA opens GPU gpu and the training backend on it.
func openCUDA(gpu int, opts cuda.BackendOptions) (kernels.Backend[float32], func() error, error) {
	c, err := cuda.Open(cuda.Options{Device: gpu})
	if err != nil {
		return nil, nil, err
	}
	be, err := cuda.NewBackend(c, opts)
	if err != nil {
		return nil, nil, errors.Join(err, c.Close())
	}
	return be, func() error { return errors.Join(be.Close(), c.Close()) }, nil
}
