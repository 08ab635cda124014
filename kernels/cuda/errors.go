package cuda

import (
	"errors"
	"fmt"
)

// Error is a failed call into the CUDA driver, cuBLAS or NVRTC. Name is the
// library's own name for the status (CUDA_ERROR_OUT_OF_MEMORY,
// CUBLAS_STATUS_NOT_SUPPORTED, NVRTC_ERROR_COMPILATION), so that messages
// can be searched in NVIDIA's documentation as they are.
type Error struct {
	Lib  string // "cuda", "cublas" or "nvrtc"
	Func string // the C function that failed, e.g. "cuMemAlloc_v2"
	Code int    // the numeric status
	Name string // the library's name for Code
	Msg  string // the library's description, when it has one
	Log  string // NVRTC's program log, for compilation errors
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s (%d)", e.Func, e.Name, e.Code)
	if e.Msg != "" && e.Msg != e.Name {
		s += ": " + e.Msg
	}
	if e.Log != "" {
		s += "\n" + e.Log
	}
	return s
}

// ErrNoGPU is wrapped by the errors returned when no usable GPU is present:
// no driver library, no device, or a driver too old to start.
var ErrNoGPU = errors.New("no usable CUDA GPU")

// cublasStatusNames maps cublasStatus_t values to their names, for cuBLAS
// versions without cublasGetStatusName (before 11.4).
var cublasStatusNames = map[int]string{
	0:  "CUBLAS_STATUS_SUCCESS",
	1:  "CUBLAS_STATUS_NOT_INITIALIZED",
	3:  "CUBLAS_STATUS_ALLOC_FAILED",
	7:  "CUBLAS_STATUS_INVALID_VALUE",
	8:  "CUBLAS_STATUS_ARCH_MISMATCH",
	11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR",
	15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

// cublasStatusName names a cuBLAS status from the table above.
func cublasStatusName(code int) string {
	if n, ok := cublasStatusNames[code]; ok {
		return n
	}
	return fmt.Sprintf("CUBLAS_STATUS_%d", code)
}
