package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/tinyrecursion/trm/internal/atomicdir"
)

// DefaultCacheDir is where compiled kernels are kept:
// os.UserCacheDir()/trm/kernels.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "trm", "kernels"), nil
}

// cacheKey names a compiled kernel file by everything that changes its
// contents: the source text, the NVRTC flags and version, the target, and
// the driver version (a newer driver may reject or recompile old code).
func cacheKey(src Source, nv *NVRTC, t Target, driverVersion int) string {
	h := sha256.New()
	h.Write([]byte(src.Code))
	h.Write([]byte("\x00" + strings.Join(compileOptions(t), " ") + "\x00" + nv.Version()))
	ext := "ptx"
	if t.CUBIN {
		ext = "cubin"
	}
	return fmt.Sprintf("%s-%s-%s-drv%d.%s", strings.TrimSuffix(src.Name, ".cu"),
		hex.EncodeToString(h.Sum(nil))[:16], t, driverVersion, ext)
}

// compileCached returns the compiled code for src, from dir when a previous
// run left it there, else from NVRTC (then stored in dir, atomically). dir ""
// disables the cache. The kernels build without warnings under NVRTC 11.8
// (CI checks that); should a newer NVRTC warn, the warnings are kept in
// from for the report rather than refusing to run.
func compileCached(nv *NVRTC, dir string, src Source, t Target, driverVersion int) (code []byte, from string, err error) {
	var path string
	if dir != "" {
		path = filepath.Join(dir, cacheKey(src, nv, t, driverVersion))
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b, path, nil
		}
	}
	code, log, err := nv.Compile(src.Name, src.Code, t)
	if err != nil {
		return nil, "", err
	}
	warn := ""
	if log != "" {
		warn = " (NVRTC " + nv.Version() + " warned: " + strings.ReplaceAll(log, "\n", "; ") + ")"
	}
	if dir == "" {
		return code, "NVRTC" + warn, nil
	}
	// A cache that cannot be written costs time, not correctness.
	err = os.MkdirAll(dir, 0o755)
	if err == nil {
		err = atomicdir.WriteFileAtomic(path, code)
	}
	if err != nil {
		return code, "NVRTC (cache not written: " + err.Error() + ")" + warn, nil
	}
	return code, "NVRTC -> " + path + warn, nil
}

// target picks what to compile for this device: a CUBIN for its exact
// architecture when this NVRTC knows it (loads without a JIT step and never
// hits the driver's PTX version limit), else PTX for the newest
// architecture NVRTC knows that the device can run.
func (c *Context) target() (Target, error) {
	arch := c.Props.Arch()
	archs, err := c.nvrtc.SupportedArchs()
	if err != nil {
		return Target{Arch: arch, CUBIN: true}, nil
	}
	if slices.Contains(archs, arch) {
		return Target{Arch: arch, CUBIN: true}, nil
	}
	best := 0
	for _, a := range archs {
		if a <= arch && a > best {
			best = a
		}
	}
	if best == 0 {
		return Target{}, fmt.Errorf("NVRTC %s (%s) supports none of the architectures up to sm_%d: %v", c.nvrtc.Version(), c.nvrtc.Path(), arch, archs)
	}
	return Target{Arch: best}, nil
}

// function returns the CUfunction for a kernel, compiling and loading its
// source file on first use (context thread only).
func (c *Context) function(name string) (uintptr, error) {
	if f, ok := c.functions[name]; ok {
		return f, nil
	}
	if len(c.kernelSrc) == 0 {
		srcs, err := Sources()
		if err != nil {
			return 0, err
		}
		for _, s := range srcs {
			for _, k := range s.Kernels {
				c.kernelSrc[k] = s
			}
		}
	}
	src, ok := c.kernelSrc[name]
	if !ok {
		return 0, fmt.Errorf("cuda: no embedded kernel named %q", name)
	}
	mod, err := c.module(src)
	if err != nil {
		return 0, err
	}
	d := c.drv
	var f uintptr
	cname := cString(name)
	if err := d.check("cuModuleGetFunction", call(d.cuModuleGetFunction, uintptr(unsafe.Pointer(&f)), mod, uintptr(unsafe.Pointer(&cname[0])))); err != nil {
		return 0, fmt.Errorf("kernel %s in %s: %w", name, src.Name, err)
	}
	c.functions[name] = f
	return f, nil
}

// compileSetup loads NVRTC and picks the target and cache directory
// (context thread only).
func (c *Context) compileSetup() (Target, string, error) {
	if c.nvrtc == nil {
		nv, err := LoadNVRTC(c.DriverVersion / 1000)
		if err != nil {
			return Target{}, "", err
		}
		c.nvrtc = nv
	}
	t, err := c.target()
	if err != nil {
		return Target{}, "", err
	}
	dir := ""
	if !c.opts.NoCache {
		dir = c.opts.CacheDir
		if dir == "" {
			dir, _ = DefaultCacheDir() // no cache dir: compile every time
		}
	}
	return t, dir, nil
}

// module returns src's module, compiling it if need be (context thread only).
func (c *Context) module(src Source) (uintptr, error) {
	if m, ok := c.modules[src.Name]; ok {
		return m, nil
	}
	t, dir, err := c.compileSetup()
	if err != nil {
		return 0, err
	}
	code, from, err := compileCached(c.nvrtc, dir, src, t, c.DriverVersion)
	if err != nil {
		return 0, err
	}
	return c.loadModule(src, compiled{code, from, t})
}

// compiled is one source's NVRTC output and where it came from.
type compiled struct {
	code   []byte
	from   string
	target Target
}

func (c *Context) loadModule(src Source, k compiled) (uintptr, error) {
	code := k.code
	if !k.target.CUBIN {
		code = append(code[:len(code):len(code)], 0) // cuModuleLoadData reads PTX as a C string
	}
	d := c.drv
	var m uintptr
	if err := d.check("cuModuleLoadData", call(d.cuModuleLoadData, uintptr(unsafe.Pointer(&m)), uintptr(unsafe.Pointer(&code[0])))); err != nil {
		return 0, fmt.Errorf("loading %s (%s, from %s): %w", src.Name, k.target, k.from, err)
	}
	c.modules[src.Name] = m
	c.KernelLog = append(c.KernelLog, fmt.Sprintf("%s: %s from %s", src.Name, k.target, k.from))
	return m, nil
}

// compileAll compiles (or reads from the cache) every source, on all CPUs:
// NVRTC takes about a second per file, and a program compiles on the
// calling thread.
func compileAll(nv *NVRTC, dir string, srcs []Source, t Target, driverVersion int) ([]compiled, error) {
	out := make([]compiled, len(srcs))
	errs := make([]error, len(srcs))
	sem := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			code, from, err := compileCached(nv, dir, s, t, driverVersion)
			out[i], errs[i] = compiled{code, from, t}, err
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// LoadKernels compiles (or loads from the cache) every embedded kernel now,
// so that the first training step does not pay for it.
func (c *Context) LoadKernels() error {
	srcs, err := Sources()
	if err != nil {
		return err
	}
	var t Target
	var dir string
	if err := c.Do(func() (err error) { t, dir, err = c.compileSetup(); return err }); err != nil {
		return err
	}
	built, err := compileAll(c.nvrtc, dir, srcs, t, c.DriverVersion)
	if err != nil {
		return err
	}
	return c.Do(func() error {
		for i, s := range srcs {
			if _, ok := c.modules[s.Name]; !ok {
				if _, err := c.loadModule(s, built[i]); err != nil {
					return err
				}
			}
			for _, k := range s.Kernels {
				if _, err := c.function(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// launch enqueues a kernel on s. Arguments are DevPtr, int32, int64 or
// float32, matching the kernel's C parameter types exactly.
func (c *Context) launch(name string, s *Stream, grid, block [3]int, shared int, args ...any) error {
	if len(args) > len(c.params) {
		return fmt.Errorf("kernel %s: %d arguments, at most %d", name, len(args), len(c.params))
	}
	packed := make([]uint64, len(args))
	for i, a := range args {
		v, err := packArg(a)
		if err != nil {
			return fmt.Errorf("kernel %s argument %d: %w", name, i, err)
		}
		packed[i] = v
	}
	return c.Do(func() error {
		f, err := c.function(name)
		if err != nil {
			return err
		}
		copy(c.params[:], packed)
		d := c.drv
		err = d.check("cuLaunchKernel", call(d.cuLaunchKernel, f,
			uintptr(grid[0]), uintptr(grid[1]), uintptr(grid[2]),
			uintptr(block[0]), uintptr(block[1]), uintptr(block[2]),
			uintptr(shared), s.handle(), uintptr(unsafe.Pointer(&c.paramPtrs[0])), 0))
		if err != nil {
			return fmt.Errorf("launching %s: %w", name, err)
		}
		return nil
	})
}

// packArg stores one kernel argument in a 64-bit slot; cuLaunchKernel reads
// as many bytes as the parameter's C type has, from the slot's start
// (little-endian, so narrower values sit in the low bytes).
func packArg(a any) (uint64, error) {
	switch v := a.(type) {
	case DevPtr:
		return uint64(v), nil
	case int32:
		return uint64(uint32(v)), nil
	case int64:
		return uint64(v), nil
	case float32:
		return uint64(math.Float32bits(v)), nil
	default:
		return 0, fmt.Errorf("unsupported type %T", a)
	}
}
