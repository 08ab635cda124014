package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// DevPtr is a device address (CUdeviceptr).
type DevPtr uintptr

// LibraryInfo says which library was loaded from where, for reports.
type LibraryInfo struct {
	Name    string
	Path    string
	Version string
}

// DeviceProps are the device properties `trm gpu check` prints and the
// launch code uses.
type DeviceProps struct {
	Ordinal             int
	Name                string
	Major, Minor        int   // compute capability
	SMs                 int   // multiprocessors
	TotalMem            int64 // bytes
	L2Bytes             int
	SharedPerBlock      int
	SharedPerBlockOptin int
	MaxThreadsPerBlock  int
	ClockKHz            int
	MemClockKHz         int
	BusWidthBits        int
}

// Arch is the compute capability as NVRTC spells it: 90 for 9.0.
func (p DeviceProps) Arch() int { return p.Major*10 + p.Minor }

// Options configure Open.
type Options struct {
	Device   int    // device ordinal
	CacheDir string // compiled-kernel cache; "" = os.UserCacheDir()/trm/kernels
	NoCache  bool   // compile every kernel, read and write no cache
}

// Context is one CUDA context on one device. Every driver, cuBLAS and
// kernel call runs on a single goroutine locked to its OS thread, which has
// the context current: callers may use a Context from any goroutine, and
// calls are serialised in the order they arrive. cuBLAS handles and the
// caching allocator need no locks of their own because of this.
type Context struct {
	drv           *driverAPI
	nvrtc         *NVRTC
	blas          *cublasAPI
	dev           int32
	ctx           uintptr
	DriverVersion int // e.g. 12040 for CUDA 12.4
	Props         DeviceProps
	opts          Options

	work      chan func()
	closeOnce sync.Once

	// Owned by the worker goroutine.
	alloc     allocator
	modules   map[string]uintptr // source name -> CUmodule
	functions map[string]uintptr // kernel name -> CUfunction
	kernelSrc map[string]Source  // kernel name -> its source
	params    [32]uint64         // kernel argument values
	paramPtrs [32]uintptr        // pointers to params, as cuLaunchKernel wants
	scalars   [2]float32         // cuBLAS alpha and beta (host pointer mode)
	copy2D    memcpy2D           // cuMemcpy2DAsync's parameters
	blasH     uintptr            // cublasHandle_t, created on first use
	blasWS    DeviceBuffer       // cuBLAS workspace
	KernelLog []string           // one line per kernel module: compiled or cached, and where
}

// Open loads the CUDA driver, picks the device and makes its primary
// context current on a dedicated OS thread. The error wraps ErrNoGPU when
// the machine has no usable GPU.
func Open(opts Options) (*Context, error) {
	drv, err := loadDriver(currentSearchEnv())
	if err != nil {
		return nil, err
	}
	c := &Context{drv: drv, opts: opts, work: make(chan func()),
		modules: map[string]uintptr{}, functions: map[string]uintptr{}, kernelSrc: map[string]Source{}}
	for i := range c.paramPtrs {
		c.paramPtrs[i] = uintptr(unsafe.Pointer(&c.params[i]))
	}
	c.alloc.c = c
	started := make(chan error)
	go c.worker(started)
	if err := <-started; err != nil {
		close(c.work)
		return nil, err
	}
	return c, nil
}

// worker owns the OS thread the context is current on.
func (c *Context) worker(started chan<- error) {
	runtime.LockOSThread()
	// The thread is never unlocked: when the goroutine exits, Go ends the
	// thread with it, and the context binding goes too.
	if err := c.start(); err != nil {
		started <- err
		return
	}
	started <- nil
	for f := range c.work {
		f()
	}
}

func (c *Context) start() error {
	d := c.drv
	if err := d.check("cuInit", call(d.cuInit, 0)); err != nil {
		return err
	}
	var v, count int32
	if err := d.check("cuDriverGetVersion", call(d.cuDriverGetVersion, uintptr(unsafe.Pointer(&v)))); err != nil {
		return err
	}
	c.DriverVersion = int(v)
	if err := d.check("cuDeviceGetCount", call(d.cuDeviceGetCount, uintptr(unsafe.Pointer(&count)))); err != nil {
		return err
	}
	if count == 0 {
		return fmt.Errorf("%w: the CUDA driver (%s) sees no device", ErrNoGPU, d.lib.Path)
	}
	if c.opts.Device < 0 || c.opts.Device >= int(count) {
		return fmt.Errorf("device %d requested, %d present", c.opts.Device, count)
	}
	if err := d.check("cuDeviceGet", call(d.cuDeviceGet, uintptr(unsafe.Pointer(&c.dev)), uintptr(c.opts.Device))); err != nil {
		return err
	}
	if err := c.queryProps(); err != nil {
		return err
	}
	if err := d.check("cuDevicePrimaryCtxRetain", call(d.cuDevicePrimaryCtxRetain, uintptr(unsafe.Pointer(&c.ctx)), uintptr(c.dev))); err != nil {
		return err
	}
	return d.check("cuCtxSetCurrent", call(d.cuCtxSetCurrent, c.ctx))
}

func (c *Context) queryProps() error {
	d := c.drv
	name := make([]byte, 256)
	if err := d.check("cuDeviceGetName", call(d.cuDeviceGetName, uintptr(unsafe.Pointer(&name[0])), uintptr(len(name)), uintptr(c.dev))); err != nil {
		return err
	}
	p := DeviceProps{Ordinal: c.opts.Device, Name: strings.TrimRight(string(name), "\x00")}
	if i := strings.IndexByte(p.Name, 0); i >= 0 {
		p.Name = p.Name[:i]
	}
	attrs := []struct {
		dst      *int
		attr     int
		required bool // the others are for the report; newer drivers may retire some
	}{
		{&p.Major, attrComputeCapabilityMajor, true}, {&p.Minor, attrComputeCapabilityMinor, true},
		{&p.SMs, attrMultiprocessorCount, true}, {&p.L2Bytes, attrL2CacheSize, false},
		{&p.SharedPerBlock, attrMaxSharedMemoryPerBlock, false}, {&p.SharedPerBlockOptin, attrMaxSharedMemoryPerBlockO, false},
		{&p.MaxThreadsPerBlock, attrMaxThreadsPerBlock, false}, {&p.ClockKHz, attrClockRate, false},
		{&p.MemClockKHz, attrMemoryClockRate, false}, {&p.BusWidthBits, attrGlobalMemoryBusWidth, false},
	}
	for _, a := range attrs {
		var v int32
		err := d.check("cuDeviceGetAttribute", call(d.cuDeviceGetAttribute, uintptr(unsafe.Pointer(&v)), uintptr(a.attr), uintptr(c.dev)))
		if err != nil && a.required {
			return fmt.Errorf("device attribute %d: %w", a.attr, err)
		}
		*a.dst = int(v)
	}
	var total uintptr
	if err := d.check("cuDeviceTotalMem_v2", call(d.cuDeviceTotalMem, uintptr(unsafe.Pointer(&total)), uintptr(c.dev))); err != nil {
		return err
	}
	p.TotalMem = int64(total)
	c.Props = p
	return nil
}

var errClosed = errors.New("cuda: context closed")

// Do runs f on the context's thread and returns its error. f must not call
// Context methods (they would wait for the thread f is running on).
func (c *Context) Do(f func() error) (err error) {
	done := make(chan struct{})
	defer func() {
		if r := recover(); r != nil {
			err = errClosed
		}
	}()
	c.work <- func() {
		err = f()
		close(done)
	}
	<-done
	return err
}

// Close frees cached device memory, the cuBLAS handle and the modules, and
// releases the primary context. The Context is unusable afterwards.
func (c *Context) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Do(func() error {
			d := c.drv
			var errs []error
			errs = append(errs, c.blasClose())
			errs = append(errs, c.alloc.emptyCache())
			for _, m := range c.modules {
				errs = append(errs, d.check("cuModuleUnload", call(d.cuModuleUnload, m)))
			}
			errs = append(errs, d.check("cuCtxSynchronize", call(d.cuCtxSynchronize)))
			errs = append(errs, d.check("cuDevicePrimaryCtxRelease_v2", call(d.cuDevicePrimaryCtxRelease, uintptr(c.dev))))
			return errors.Join(errs...)
		})
		close(c.work)
	})
	return err
}

// Synchronize waits for all work on the device.
func (c *Context) Synchronize() error {
	return c.Do(func() error { return c.drv.check("cuCtxSynchronize", call(c.drv.cuCtxSynchronize)) })
}

// MemInfo returns the device's free and total memory in bytes.
func (c *Context) MemInfo() (free, total int64, err error) {
	err = c.Do(func() error {
		var f, t uintptr
		e := c.drv.check("cuMemGetInfo_v2", call(c.drv.cuMemGetInfo, uintptr(unsafe.Pointer(&f)), uintptr(unsafe.Pointer(&t))))
		free, total = int64(f), int64(t)
		return e
	})
	return free, total, err
}

// Libraries lists the libraries this context has loaded so far.
func (c *Context) Libraries() []LibraryInfo {
	out := []LibraryInfo{{Name: "CUDA driver", Path: c.drv.lib.Path,
		Version: fmt.Sprintf("%d.%d", c.DriverVersion/1000, c.DriverVersion%1000/10)}}
	if c.nvrtc != nil {
		out = append(out, LibraryInfo{Name: "NVRTC", Path: c.nvrtc.Path(), Version: c.nvrtc.Version()})
	}
	if c.blas != nil {
		out = append(out, c.blas.infos()...)
	}
	return out
}
