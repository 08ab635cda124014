package loader

import (
	"errors"
	"sync"
	"unsafe"
)

// Allocator provides batch buffers. The signatures match
// kernels/cuda.Allocator, so the CUDA backend's pinned (page-locked) host
// allocator can be passed directly and batches then copy to the device
// asynchronously.
type Allocator interface {
	// Alloc returns a buffer of n bytes.
	Alloc(n int) ([]byte, error)
	// Free returns a buffer obtained from Alloc.
	Free(b []byte) error
}

// Alignment of every batch buffer and of each array inside it: a cache line,
// and enough for any vector load.
const Alignment = 64

// AlignedAllocator hands out Go heap memory aligned to Alignment. Free is a
// no-op: the garbage collector reclaims the memory once the pool drops it.
type AlignedAllocator struct{}

// Alloc returns n bytes starting at a multiple of Alignment.
func (AlignedAllocator) Alloc(n int) ([]byte, error) {
	if n <= 0 {
		return nil, errors.New("loader: allocation of zero bytes")
	}
	raw := make([]byte, n+Alignment-1)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & (Alignment - 1))
	return raw[off : off+n : off+n], nil
}

// Free does nothing.
func (AlignedAllocator) Free([]byte) error { return nil }

// pool recycles batch buffers of one size. It allocates lazily up to limit
// buffers; get blocks while all of them are handed out.
type pool struct {
	alloc Allocator
	size  int
	limit int

	mu     sync.Mutex
	free   [][]byte
	total  int
	closed bool
	avail  chan struct{} // signalled when a buffer is returned
}

func newPool(a Allocator, size, limit int) *pool {
	return &pool{alloc: a, size: size, limit: limit, avail: make(chan struct{}, 1)}
}

// get returns a buffer, waiting for one to be returned when the pool is at
// its limit; it gives up when done is closed.
func (p *pool) get(done <-chan struct{}) ([]byte, error) {
	for {
		p.mu.Lock()
		if n := len(p.free); n > 0 {
			b := p.free[n-1]
			p.free = p.free[:n-1]
			more := n > 1
			p.mu.Unlock()
			if more {
				// Pass the wake-up on: put signals once per buffer at
				// most, and another getter may be waiting.
				p.signal()
			}
			return b, nil
		}
		if p.total < p.limit {
			p.total++
			p.mu.Unlock()
			b, err := p.alloc.Alloc(p.size)
			if err != nil {
				p.mu.Lock()
				p.total--
				p.mu.Unlock()
				return nil, err
			}
			if len(b) != p.size {
				return nil, errors.New("loader: allocator returned a buffer of the wrong size")
			}
			return b, nil
		}
		p.mu.Unlock()
		select {
		case <-p.avail:
		case <-done:
			return nil, errClosed
		}
	}
}

func (p *pool) put(b []byte) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = p.alloc.Free(b)
		return
	}
	p.free = append(p.free, b)
	p.mu.Unlock()
	p.signal()
}

func (p *pool) signal() {
	select {
	case p.avail <- struct{}{}:
	default:
	}
}

// close frees the buffers that are back in the pool; buffers still held by
// batches are freed when those batches are released.
func (p *pool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, b := range p.free {
		errs = append(errs, p.alloc.Free(b))
		p.total--
	}
	p.free = nil
	p.closed = true
	return errors.Join(errs...)
}

var errClosed = errors.New("loader: closed")
