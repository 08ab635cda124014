package cuda

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// DeviceBuffer is device memory from the context's caching allocator.
type DeviceBuffer struct {
	Ptr   DevPtr
	Bytes int // as requested
	class int // bytes actually reserved
}

// AllocStats counts the caching allocator's work.
type AllocStats struct {
	Requests     int   // Alloc calls
	Reused       int   // served from the cache, no cuMemAlloc
	DriverAllocs int   // cuMemAlloc calls
	InUse        int64 // bytes handed out and not freed
	Cached       int64 // bytes freed by callers, kept for reuse
	PeakInUse    int64
}

// allocator caches freed device blocks by size class, so that a training
// step, which allocates the same sizes every time, calls cuMemAlloc only in
// its first step. Blocks are reused in stream order: a block freed after
// work was enqueued on a stream may be handed to later work on the same
// stream; callers using several streams synchronise before freeing.
// Accessed only on the context's thread.
type allocator struct {
	c     *Context
	free  map[int][]DevPtr
	stats AllocStats
}

// sizeClass rounds a request up: to 512 bytes below 1 MiB, to 2 MiB above,
// so that nearly equal requests share blocks without wasting much.
func sizeClass(n int) int {
	const small, large = 512, 2 << 20
	if n <= 0 {
		n = 1
	}
	if n < 1<<20 {
		return (n + small - 1) / small * small
	}
	return (n + large - 1) / large * large
}

func (a *allocator) get(n int) (DeviceBuffer, error) {
	d := a.c.drv
	cl := sizeClass(n)
	a.stats.Requests++
	if l := a.free[cl]; len(l) > 0 {
		p := l[len(l)-1]
		a.free[cl] = l[:len(l)-1]
		a.stats.Reused++
		a.stats.Cached -= int64(cl)
		a.use(int64(cl))
		return DeviceBuffer{Ptr: p, Bytes: n, class: cl}, nil
	}
	var p DevPtr
	err := d.check("cuMemAlloc_v2", call(d.cuMemAlloc, uintptr(unsafe.Pointer(&p)), uintptr(cl)))
	var e *Error
	if errors.As(err, &e) && e.Name == "CUDA_ERROR_OUT_OF_MEMORY" && a.stats.Cached > 0 {
		// Give the cached blocks back and try once more.
		if ferr := a.emptyCache(); ferr != nil {
			return DeviceBuffer{}, ferr
		}
		err = d.check("cuMemAlloc_v2", call(d.cuMemAlloc, uintptr(unsafe.Pointer(&p)), uintptr(cl)))
	}
	if err != nil {
		return DeviceBuffer{}, fmt.Errorf("allocating %d bytes on the device: %w", n, err)
	}
	a.stats.DriverAllocs++
	a.use(int64(cl))
	return DeviceBuffer{Ptr: p, Bytes: n, class: cl}, nil
}

func (a *allocator) use(n int64) {
	a.stats.InUse += n
	a.stats.PeakInUse = max(a.stats.PeakInUse, a.stats.InUse)
}

func (a *allocator) put(b DeviceBuffer) {
	if b.Ptr == 0 {
		return
	}
	if a.free == nil {
		a.free = map[int][]DevPtr{}
	}
	a.free[b.class] = append(a.free[b.class], b.Ptr)
	a.stats.InUse -= int64(b.class)
	a.stats.Cached += int64(b.class)
}

// emptyCache returns every cached block to the driver.
func (a *allocator) emptyCache() error {
	d := a.c.drv
	var errs []error
	for cl, l := range a.free {
		for _, p := range l {
			errs = append(errs, d.check("cuMemFree_v2", call(d.cuMemFree, uintptr(p))))
			a.stats.Cached -= int64(cl)
		}
	}
	a.free = nil
	return errors.Join(errs...)
}

// Alloc returns n bytes of device memory, reusing a freed block of the same
// size class when there is one. The contents are undefined.
func (c *Context) Alloc(n int) (DeviceBuffer, error) {
	var b DeviceBuffer
	err := c.Do(func() (err error) { b, err = c.alloc.get(n); return })
	return b, err
}

// Free gives a buffer back to the cache (not to the driver).
func (c *Context) Free(b DeviceBuffer) {
	_ = c.Do(func() error { c.alloc.put(b); return nil })
}

// EmptyCache returns all cached device memory to the driver.
func (c *Context) EmptyCache() error { return c.Do(c.alloc.emptyCache) }

// AllocStats returns the caching allocator's counters.
func (c *Context) AllocStats() AllocStats {
	var s AllocStats
	_ = c.Do(func() error { s = c.alloc.stats; return nil })
	return s
}

// Allocator hands out host memory for batch buffers. The loader gathers
// rows into these buffers; with PinnedAllocator they are page-locked, so
// host-to-device copies run asynchronously at full PCIe/NVLink speed.
type Allocator interface {
	// Alloc returns a buffer of n bytes.
	Alloc(n int) ([]byte, error)
	// Free returns a buffer obtained from Alloc.
	Free(b []byte) error
}

// HeapAllocator is the Allocator for machines without a GPU: ordinary Go
// memory.
type HeapAllocator struct{}

func (HeapAllocator) Alloc(n int) ([]byte, error) { return make([]byte, n), nil }
func (HeapAllocator) Free([]byte) error           { return nil }

// PinnedAllocator is an Allocator of page-locked host memory
// (cuMemHostAlloc, portable to every context).
type PinnedAllocator struct {
	c    *Context
	mu   sync.Mutex
	live map[*byte]unsafe.Pointer
}

// PinnedAllocator returns an Allocator of pinned host memory owned by c.
func (c *Context) PinnedAllocator() *PinnedAllocator {
	return &PinnedAllocator{c: c, live: map[*byte]unsafe.Pointer{}}
}

func (p *PinnedAllocator) Alloc(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("pinned alloc of %d bytes", n)
	}
	var hp unsafe.Pointer
	d := p.c.drv
	err := p.c.Do(func() error {
		return d.check("cuMemHostAlloc", call(d.cuMemHostAlloc, uintptr(unsafe.Pointer(&hp)), uintptr(n), memHostAllocPortable))
	})
	if err != nil {
		return nil, fmt.Errorf("allocating %d bytes of pinned host memory: %w", n, err)
	}
	b := unsafe.Slice((*byte)(hp), n)
	p.mu.Lock()
	p.live[&b[0]] = hp
	p.mu.Unlock()
	return b, nil
}

func (p *PinnedAllocator) Free(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	p.mu.Lock()
	hp, ok := p.live[&b[0]]
	delete(p.live, &b[0])
	p.mu.Unlock()
	if !ok {
		return errors.New("cuda: Free of a buffer PinnedAllocator did not allocate (or freed twice)")
	}
	d := p.c.drv
	return p.c.Do(func() error { return d.check("cuMemFreeHost", call(d.cuMemFreeHost, uintptr(hp))) })
}

// Stream is a CUDA stream. A nil *Stream means the legacy default stream.
type Stream struct {
	c *Context
	h uintptr
}

func (s *Stream) handle() uintptr {
	if s == nil {
		return 0
	}
	return s.h
}

// NewStream creates a stream.
func (c *Context) NewStream() (*Stream, error) {
	s := &Stream{c: c}
	err := c.Do(func() error {
		return c.drv.check("cuStreamCreate", call(c.drv.cuStreamCreate, uintptr(unsafe.Pointer(&s.h)), 0))
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Synchronize waits for the stream's work.
func (s *Stream) Synchronize() error {
	c := s.c
	return c.Do(func() error { return c.drv.check("cuStreamSynchronize", call(c.drv.cuStreamSynchronize, s.h)) })
}

// Close destroys the stream.
func (s *Stream) Close() error {
	c := s.c
	return c.Do(func() error { return c.drv.check("cuStreamDestroy_v2", call(c.drv.cuStreamDestroy, s.h)) })
}

// Event is a CUDA event, for timing and cross-stream ordering.
type Event struct {
	c *Context
	h uintptr
}

// NewEvent creates an event that records timing.
func (c *Context) NewEvent() (*Event, error) {
	e := &Event{c: c}
	err := c.Do(func() error {
		return c.drv.check("cuEventCreate", call(c.drv.cuEventCreate, uintptr(unsafe.Pointer(&e.h)), 0))
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Record enqueues the event on s.
func (e *Event) Record(s *Stream) error {
	c := e.c
	return c.Do(func() error { return c.drv.check("cuEventRecord", call(c.drv.cuEventRecord, e.h, s.handle())) })
}

// Synchronize waits until the event has happened.
func (e *Event) Synchronize() error {
	c := e.c
	return c.Do(func() error { return c.drv.check("cuEventSynchronize", call(c.drv.cuEventSynchronize, e.h)) })
}

// Wait makes future work on s wait for the event.
func (e *Event) Wait(s *Stream) error {
	c := e.c
	return c.Do(func() error {
		return c.drv.check("cuStreamWaitEvent", call(c.drv.cuStreamWaitEvent, s.handle(), e.h, 0))
	})
}

// Close destroys the event.
func (e *Event) Close() error {
	c := e.c
	return c.Do(func() error { return c.drv.check("cuEventDestroy_v2", call(c.drv.cuEventDestroy, e.h)) })
}

// ElapsedMs is the time between two recorded events in milliseconds.
func ElapsedMs(start, end *Event) (float64, error) {
	c := start.c
	var ms float32
	err := c.Do(func() error {
		return c.drv.check("cuEventElapsedTime", call(c.drv.cuEventElapsedTime, uintptr(unsafe.Pointer(&ms)), start.h, end.h))
	})
	return float64(ms), err
}

// CopyHtoD enqueues a copy of src to device address dst on s. With pinned
// src (PinnedAllocator) the copy is asynchronous and src must stay
// untouched until the stream reaches it; with ordinary memory the driver
// stages it before returning.
func (c *Context) CopyHtoD(s *Stream, dst DevPtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return c.Do(func() error {
		return c.drv.check("cuMemcpyHtoDAsync_v2", call(c.drv.cuMemcpyHtoDAsync, uintptr(dst), uintptr(unsafe.Pointer(&src[0])), uintptr(len(src)), s.handle()))
	})
}

// CopyDtoH enqueues a copy of len(dst) bytes from device address src on s.
// The data is in dst once the stream has reached the copy (Synchronize).
func (c *Context) CopyDtoH(s *Stream, dst []byte, src DevPtr) error {
	if len(dst) == 0 {
		return nil
	}
	return c.Do(func() error {
		return c.drv.check("cuMemcpyDtoHAsync_v2", call(c.drv.cuMemcpyDtoHAsync, uintptr(unsafe.Pointer(&dst[0])), uintptr(src), uintptr(len(dst)), s.handle()))
	})
}

// CopyDtoD enqueues a device-to-device copy of n bytes.
func (c *Context) CopyDtoD(s *Stream, dst, src DevPtr, n int) error {
	return c.Do(func() error {
		return c.drv.check("cuMemcpyDtoDAsync_v2", call(c.drv.cuMemcpyDtoDAsync, uintptr(dst), uintptr(src), uintptr(n), s.handle()))
	})
}

// CopyRows enqueues a strided device-to-device copy of rows blocks of
// width bytes: block r goes from src + r·srcPitch to dst + r·dstPitch.
func (c *Context) CopyRows(s *Stream, dst DevPtr, dstPitch int, src DevPtr, srcPitch int, width, rows int) error {
	if width == 0 || rows == 0 {
		return nil
	}
	return c.Do(func() error {
		c.copy2D = memcpy2D{srcMemoryType: memoryTypeDevice, srcDevice: src, srcPitch: uintptr(srcPitch),
			dstMemoryType: memoryTypeDevice, dstDevice: dst, dstPitch: uintptr(dstPitch),
			widthInBytes: uintptr(width), height: uintptr(rows)}
		return c.drv.check("cuMemcpy2DAsync_v2", call(c.drv.cuMemcpy2DAsync, uintptr(unsafe.Pointer(&c.copy2D)), s.handle()))
	})
}

// Memset enqueues setting n bytes at dst to b.
func (c *Context) Memset(s *Stream, dst DevPtr, b byte, n int) error {
	return c.Do(func() error {
		return c.drv.check("cuMemsetD8Async", call(c.drv.cuMemsetD8Async, uintptr(dst), uintptr(b), uintptr(n), s.handle()))
	})
}

// Bytes views a slice of fixed-size values as bytes, for copies.
func Bytes[T ~float32 | ~float64 | ~int32 | ~int64 | ~uint16 | ~uint8](x []T) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), len(x)*int(unsafe.Sizeof(x[0])))
}

// View reinterprets bytes (from an Allocator) as a slice of T; the length
// is rounded down to whole elements.
func View[T ~float32 | ~float64 | ~int32 | ~int64 | ~uint16 | ~uint8](b []byte) []T {
	var z T
	n := len(b) / int(unsafe.Sizeof(z))
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

// Uploader copies host buffers, one at a time, to a device buffer that it
// keeps and grows as needed, on a stream of its own, and waits for each
// copy: the device leg of a trainer's input, as `trm bench loader --gpu`
// measures it. From pinned buffers (PinnedAllocator) the copies run at the
// bus's rate.
type Uploader struct {
	c   *Context
	s   *Stream
	dev DeviceBuffer
}

// NewUploader returns an Uploader on c; Close releases its stream and
// device buffer.
func (c *Context) NewUploader() (*Uploader, error) {
	s, err := c.NewStream()
	if err != nil {
		return nil, err
	}
	return &Uploader{c: c, s: s}, nil
}

// Upload copies buf to the device and returns once the copy is done, so
// that buf may be reused. Device returns where it went.
func (u *Uploader) Upload(buf []byte) error {
	if len(buf) > u.dev.Bytes {
		if u.dev.Bytes > 0 {
			u.c.Free(u.dev)
			u.dev = DeviceBuffer{}
		}
		d, err := u.c.Alloc(len(buf))
		if err != nil {
			return err
		}
		u.dev = d
	}
	if len(buf) == 0 {
		return nil
	}
	// The copy and the wait in one trip to the context's thread: each
	// trip is a goroutine handoff, which costs as much as copying a
	// Sudoku batch.
	d := u.c.drv
	return u.c.Do(func() error {
		err := d.check("cuMemcpyHtoDAsync_v2", call(d.cuMemcpyHtoDAsync, uintptr(u.dev.Ptr), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), u.s.h))
		if err != nil {
			return err
		}
		return d.check("cuStreamSynchronize", call(d.cuStreamSynchronize, u.s.h))
	})
}

// Device is the device buffer the last Upload wrote (its first len(buf)
// bytes).
func (u *Uploader) Device() DeviceBuffer { return u.dev }

// Close frees the device buffer and destroys the stream.
func (u *Uploader) Close() error {
	if u.dev.Bytes > 0 {
		u.c.Free(u.dev)
		u.dev = DeviceBuffer{}
	}
	return u.s.Close()
}
