package train

import (
	"errors"
	"fmt"

	"github.com/tinyrecursion/trm/kernels"
	"github.com/tinyrecursion/trm/kernels/cpu"
	"github.com/tinyrecursion/trm/kernels/cuda"
)

// Devices are the values of the device key.
var Devices = []string{"cpu", "cuda", "auto"}

// openBackend returns the compute backend for device ("cpu", "cuda", or
// "auto": the GPU when one can be opened, else the CPU, saying why) and
// the function that releases it.
func openBackend(device string, workers int, logf func(string, ...any)) (kernels.Backend[float32], func() error, error) {
	switch device {
	case "cuda", "auto":
		be, closeFn, err := openCUDA()
		if err == nil {
			return be, closeFn, nil
		}
		if device == "cuda" {
			return nil, nil, fmt.Errorf("device=cuda: %w (device=cpu trains on the CPU)", err)
		}
		logf("device=auto: no GPU backend, training on the CPU: %v", err)
	case "cpu", "":
	default:
		return nil, nil, fmt.Errorf("device = %q; known: cpu, cuda, auto", device)
	}
	be := cpu.New32(workers)
	return be, func() error { be.Close(); return nil }, nil
}

// openCUDA opens the first GPU and the training backend on it.
func openCUDA() (kernels.Backend[float32], func() error, error) {
	c, err := cuda.Open(cuda.Options{})
	if err != nil {
		return nil, nil, err
	}
	be, err := cuda.NewBackend(c)
	if err != nil {
		return nil, nil, errors.Join(err, c.Close())
	}
	return be, func() error { return errors.Join(be.Close(), c.Close()) }, nil
}
