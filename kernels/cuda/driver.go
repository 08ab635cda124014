package cuda

import (
	"fmt"
	"unsafe"
)

// driverAPI holds the addresses of the CUDA driver functions we call.
// The _v2 entry points are the 64-bit-size versions that cuda.h maps the
// plain names to.
type driverAPI struct {
	lib *library

	cuInit, cuDriverGetVersion, cuGetErrorName, cuGetErrorString             uintptr
	cuDeviceGetCount, cuDeviceGet, cuDeviceGetName, cuDeviceGetAttribute     uintptr
	cuDeviceTotalMem                                                         uintptr
	cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRelease, cuCtxSetCurrent     uintptr
	cuCtxSynchronize, cuMemGetInfo                                           uintptr
	cuMemAlloc, cuMemFree, cuMemHostAlloc, cuMemFreeHost                     uintptr
	cuMemcpy2DAsync                                                          uintptr
	cuMemcpyHtoDAsync, cuMemcpyDtoHAsync, cuMemcpyDtoDAsync, cuMemsetD8Async uintptr
	cuStreamCreate, cuStreamDestroy, cuStreamSynchronize, cuStreamWaitEvent  uintptr
	cuEventCreate, cuEventDestroy, cuEventRecord, cuEventSynchronize         uintptr
	cuEventElapsedTime                                                       uintptr
	cuModuleLoadData, cuModuleUnload, cuModuleGetFunction, cuLaunchKernel    uintptr
}

func loadDriver(env searchEnv) (*driverAPI, error) {
	lib, err := openLibrary("CUDA driver (libcuda.so.1)", candidates(searchDirs(env), cudaSonames, 0))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoGPU, err)
	}
	d := &driverAPI{lib: lib}
	syms := []struct {
		p    *uintptr
		name string
	}{
		{&d.cuInit, "cuInit"}, {&d.cuDriverGetVersion, "cuDriverGetVersion"},
		{&d.cuGetErrorName, "cuGetErrorName"}, {&d.cuGetErrorString, "cuGetErrorString"},
		{&d.cuDeviceGetCount, "cuDeviceGetCount"}, {&d.cuDeviceGet, "cuDeviceGet"},
		{&d.cuDeviceGetName, "cuDeviceGetName"}, {&d.cuDeviceGetAttribute, "cuDeviceGetAttribute"},
		{&d.cuDeviceTotalMem, "cuDeviceTotalMem_v2"},
		{&d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
		{&d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
		{&d.cuCtxSetCurrent, "cuCtxSetCurrent"}, {&d.cuCtxSynchronize, "cuCtxSynchronize"},
		{&d.cuMemGetInfo, "cuMemGetInfo_v2"},
		{&d.cuMemAlloc, "cuMemAlloc_v2"}, {&d.cuMemFree, "cuMemFree_v2"},
		{&d.cuMemHostAlloc, "cuMemHostAlloc"}, {&d.cuMemFreeHost, "cuMemFreeHost"},
		{&d.cuMemcpy2DAsync, "cuMemcpy2DAsync_v2"},
		{&d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"}, {&d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"},
		{&d.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"}, {&d.cuMemsetD8Async, "cuMemsetD8Async"},
		{&d.cuStreamCreate, "cuStreamCreate"}, {&d.cuStreamDestroy, "cuStreamDestroy_v2"},
		{&d.cuStreamSynchronize, "cuStreamSynchronize"}, {&d.cuStreamWaitEvent, "cuStreamWaitEvent"},
		{&d.cuEventCreate, "cuEventCreate"}, {&d.cuEventDestroy, "cuEventDestroy_v2"},
		{&d.cuEventRecord, "cuEventRecord"}, {&d.cuEventSynchronize, "cuEventSynchronize"},
		{&d.cuEventElapsedTime, "cuEventElapsedTime"},
		{&d.cuModuleLoadData, "cuModuleLoadData"}, {&d.cuModuleUnload, "cuModuleUnload"},
		{&d.cuModuleGetFunction, "cuModuleGetFunction"}, {&d.cuLaunchKernel, "cuLaunchKernel"},
	}
	for _, s := range syms {
		if *s.p, err = lib.sym(s.name); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// check turns a CUresult into a Go error carrying the driver's name for it.
func (d *driverAPI) check(fn string, code int) error {
	if code == 0 {
		return nil
	}
	var name, msg *byte
	call(d.cuGetErrorName, uintptr(code), uintptr(unsafe.Pointer(&name)))
	call(d.cuGetErrorString, uintptr(code), uintptr(unsafe.Pointer(&msg)))
	n := goString(name)
	if n == "" {
		n = fmt.Sprintf("CUDA_ERROR_%d", code)
	}
	err := &Error{Lib: "cuda", Func: fn, Code: code, Name: n, Msg: goString(msg)}
	// 100 CUDA_ERROR_NO_DEVICE, 35 CUDA_ERROR_INSUFFICIENT_DRIVER,
	// 999 CUDA_ERROR_UNKNOWN (what cuInit says in a container without
	// the device nodes): the machine has no usable GPU.
	if fn == "cuInit" || code == 100 || code == 35 {
		return fmt.Errorf("%w: %w", ErrNoGPU, err)
	}
	return err
}

// Device attribute numbers from cuda.h's CUdevice_attribute.
const (
	attrMaxThreadsPerBlock       = 1
	attrMaxSharedMemoryPerBlock  = 8
	attrClockRate                = 13
	attrMultiprocessorCount      = 16
	attrMemoryClockRate          = 36
	attrGlobalMemoryBusWidth     = 37
	attrL2CacheSize              = 38
	attrComputeCapabilityMajor   = 75
	attrComputeCapabilityMinor   = 76
	attrMaxSharedMemoryPerBlockO = 97
)

// cuMemHostAlloc flags.
const (
	memHostAllocPortable = 0x01
)

// memoryTypeDevice is CU_MEMORYTYPE_DEVICE, for CUDA_MEMCPY2D.
const memoryTypeDevice = 2

// memcpy2D is cuda.h's CUDA_MEMCPY2D, the size_t layout that
// cuMemcpy2DAsync_v2 takes (128 bytes; each memory type is a 4-byte enum
// padded to the pointer after it).
type memcpy2D struct {
	srcXInBytes, srcY uintptr
	srcMemoryType     uint32
	_                 uint32
	srcHost           uintptr
	srcDevice         DevPtr
	srcArray          uintptr
	srcPitch          uintptr
	dstXInBytes, dstY uintptr
	dstMemoryType     uint32
	_                 uint32
	dstHost           uintptr
	dstDevice         DevPtr
	dstArray          uintptr
	dstPitch          uintptr
	widthInBytes      uintptr
	height            uintptr
}
