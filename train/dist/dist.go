// Package dist is the collective communication of a data-parallel trm job:
// processes started by torchrun (or anything that sets the same variables,
// see FromEnv) join a Group over plain TCP and then sum gradients
// (AllReduceSum), metrics (AllReduceSum64) and exchange byte payloads
// (Gather, AllGather, Broadcast).
//
// Topology: every rank holds a connection to rank 0 and, in a job of three
// or more, to every other rank (rank 0's "go" at the end of Join tells each
// rank where the others accept, with a token that proves a connection comes
// from this job). Gather, AllGather and Broadcast go through rank 0: each
// rank sends its part to rank 0, which combines the parts and sends the
// result back. The all-reduces, which carry the gradients, first agree on
// the length through rank 0, then move the values over the mesh: each rank
// owns one contiguous chunk of the vector, receives that chunk from every
// rank, sums it and sends the sum to every rank (reduce-scatter, then
// all-gather). Every rank then moves 2·(WorldSize-1)/WorldSize·len bytes
// each way, where a star would make rank 0 move 2·(WorldSize-1)·len: the
// work is spread over the ranks' cores and links (on one machine the total
// through the kernel is the same). NCCL between GPUs would be the next step.
//
// Determinism: each chunk is summed in rank order, ((x0 + x1) + x2) + ...,
// in the values' own precision, once every rank's part has arrived, and its
// bits are sent to all; every rank holds the same bits, independent of
// timing and of the number of chunks.
//
// Wire format: every message is a frame, a header {op code, collective
// sequence number, payload length} in little-endian followed by the
// payload. Float payloads are the slices' memory as is (no copy of large
// gradient buffers), so all ranks must share one architecture. Each
// collective starts with a request from every other rank and a reply from
// rank 0, even Gather (an empty acknowledgement), Broadcast (an empty
// request) and the all-reduces (the length): that way rank 0 checks that
// every rank is in the same collective (same op, same sequence number and,
// for the all-reduces, same length) and every rank learns of a mismatch in
// the call where it happened. Mesh frames carry the same header, checked
// by their receiver.
//
// Failure: a Group breaks at its first error. It closes its connections, so
// that the other ranks' pending or next collective fails fast instead of
// hanging, and every later call returns that first error. Rank 0 first
// sends the error's text to every peer, which returns it prefixed with
// "rank 0: ". Before it answers, rank 0 reads every live peer's whole
// request, a mismatched one included, so that the error meets each peer
// reading its reply at a frame boundary; a failure is therefore reported
// once the live ranks have reached the collective. A process that dies
// closes its connections, which ends every other rank's wait with an error
// naming it; a rank whose mesh round fails closes all its connections, so
// the others fail in that round too. Collectives have no deadline (a
// rank may spend minutes writing a checkpoint while the others wait); TCP
// keepalive ends a wait on a host that vanished without closing.
//
// Concurrency: a Group's methods must be called from one goroutine at a
// time.
package dist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// abortWriteTimeout bounds the write of an error frame to a peer that may
// have stopped reading: telling it why is best effort, breaking the group
// must not wait on it.
const abortWriteTimeout = 10 * time.Second

// anyLen in place of a request length lets rank 0 accept any payload size.
const anyLen = ^uint64(0)

// Group is this process's membership in a job; see the package comment.
type Group struct {
	rank, size int
	// conns[r] is the connection to rank r (in a job of two, or on rank 0,
	// the star's; otherwise the mesh's too); nil for this rank itself.
	conns []net.Conn
	// seq counts this group's collectives; the current one's number.
	seq uint64
	// err is the first error; once set the group is broken.
	err    error
	closed bool
	// scratch[r] holds rank r's part of this rank's chunk in an all-reduce,
	// and sum their sum, reused across calls so that each step does not
	// allocate gradient-sized buffers.
	scratch [][]uint64
	sum     []uint64
}

// Rank is this process's rank in [0, Size()).
func (g *Group) Rank() int { return g.rank }

// Size is the job's number of processes.
func (g *Group) Size() int { return g.size }

// AllReduceSum replaces x on every rank with the element-wise sum over
// ranks, formed in rank order, ((x0 + x1) + x2) + ..., in float32, so every
// rank holds the same bits and the result does not depend on timing. Every
// rank must pass the same length. After an error x's contents are
// unspecified.
func (g *Group) AllReduceSum(x []float32) error {
	return allReduce(g, opAllReduceSum, x)
}

// AllReduceSum64 is AllReduceSum for float64 (metrics, flags).
func (g *Group) AllReduceSum64(x []float64) error {
	return allReduce(g, opAllReduceSum64, x)
}

// Gather returns every rank's payload, in rank order, on rank 0 (nil on the
// others); rank 0's own entry is p itself. Payload sizes may differ.
func (g *Group) Gather(p []byte) ([][]byte, error) {
	if err := g.begin(); err != nil {
		return nil, err
	}
	if g.rank != 0 {
		return nil, g.request(opGather, p, g.emptyReply(opGather))
	}
	got, err := g.collect(opGather, anyLen)
	if err != nil {
		return nil, err
	}
	got[0] = p
	if err := g.replyAll(opGather); err != nil {
		return nil, err
	}
	return got, nil
}

// AllGather returns every rank's payload in rank order on every rank; rank
// 0's own entry is p itself, the other ranks' entries are fresh.
func (g *Group) AllGather(p []byte) ([][]byte, error) {
	if err := g.begin(); err != nil {
		return nil, err
	}
	if g.rank != 0 {
		var got [][]byte
		err := g.request(opAllGather, p, func(c net.Conn, h header) error {
			b, err := readBytes(c, h.n)
			if err != nil {
				return err
			}
			got, err = splitParts(b, g.size)
			if err != nil {
				return fmt.Errorf("dist: collective #%d (AllGather): %w from rank 0: %w", g.seq, errBadReply, err)
			}
			return nil
		})
		return got, err
	}
	got, err := g.collect(opAllGather, anyLen)
	if err != nil {
		return nil, err
	}
	got[0] = p
	// The reply is a table of the parts' lengths, then the parts.
	table := make([]byte, 8*g.size)
	for r, b := range got {
		binary.LittleEndian.PutUint64(table[8*r:], uint64(len(b)))
	}
	if err := g.replyAll(opAllGather, append([][]byte{table}, got...)...); err != nil {
		return nil, err
	}
	return got, nil
}

// splitParts decodes AllGather's reply: size little-endian uint64 lengths,
// then the parts back to back. The parts share b, each capped at its end so
// that appending to one cannot overwrite the next.
func splitParts(b []byte, size int) ([][]byte, error) {
	if uint64(len(b)) < 8*uint64(size) {
		return nil, fmt.Errorf("%d bytes cannot hold the lengths of %d parts", len(b), size)
	}
	parts := make([][]byte, size)
	off := uint64(8 * size)
	for r := range parts {
		n := binary.LittleEndian.Uint64(b[8*r:])
		if n > uint64(len(b))-off {
			return nil, fmt.Errorf("rank %d's part of %d bytes overruns the %d-byte reply", r, n, len(b))
		}
		parts[r] = b[off : off+n : off+n]
		off += n
	}
	if off != uint64(len(b)) {
		return nil, fmt.Errorf("%d bytes follow the last part", uint64(len(b))-off)
	}
	return parts, nil
}

// Broadcast returns rank 0's payload on every rank (p is ignored on the
// others; rank 0 gets p itself).
func (g *Group) Broadcast(p []byte) ([]byte, error) {
	if err := g.begin(); err != nil {
		return nil, err
	}
	if g.rank != 0 {
		var got []byte
		// The request is empty: it only lets rank 0 check that this rank is
		// in the same collective.
		err := g.request(opBroadcast, nil, func(c net.Conn, h header) error {
			var err error
			got, err = readBytes(c, h.n)
			return err
		})
		return got, err
	}
	if _, err := g.collect(opBroadcast, 0); err != nil {
		return nil, err
	}
	if err := g.replyAll(opBroadcast, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Close closes the connections; safe to call twice. The other ranks' next
// collective fails naming this rank.
func (g *Group) Close() error {
	if g.closed {
		return nil
	}
	if g.err == nil {
		g.err = fmt.Errorf("dist: the group of rank %d is closed: %w", g.rank, net.ErrClosed)
	}
	return g.closeConns()
}

func (g *Group) closeConns() error {
	g.closed = true
	var errs []error
	for r, c := range g.conns {
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("dist: rank %d: close connection to rank %d: %w", g.rank, r, err))
		}
	}
	return errors.Join(errs...)
}

// begin starts a collective: it refuses on a broken group and numbers the
// call.
func (g *Group) begin() error {
	if g.err != nil {
		return g.err
	}
	g.seq++
	return nil
}

// fail breaks the group with err: it closes every connection, so that the
// ranks waiting on this one fail instead of hanging, and returns err, which
// every later call returns too.
func (g *Group) fail(err error) error {
	if g.err == nil {
		g.err = err
	}
	if !g.closed {
		// The close errors add nothing: the group is already broken by err.
		_ = g.closeConns()
	}
	return err
}

// abort is rank 0's fail: it first sends err's text to every peer, so that
// their pending or next collective returns it rather than a bare EOF.
func (g *Group) abort(err error) error {
	msg := []byte(err.Error())
	msg = msg[:min(len(msg), maxErrorLen)]
	var wg sync.WaitGroup
	for _, c := range g.conns {
		if c == nil {
			continue
		}
		wg.Go(func() {
			// Best effort: a peer that is gone cannot be told, and its own
			// error already names the cause.
			_ = c.SetWriteDeadline(time.Now().Add(abortWriteTimeout))
			_ = writeFrame(c, opError, g.seq, msg)
		})
	}
	wg.Wait()
	return g.fail(err)
}

// peerErr describes a failed read or write on the connection to rank r.
func (g *Group) peerErr(r int, op opcode, err error) error {
	if errors.Is(err, errBadHeader) {
		return fmt.Errorf("dist: collective #%d (%s): from rank %d: %w", g.seq, op, r, err)
	}
	return fmt.Errorf("dist: rank %d left the job during %s (collective #%d): %w", r, op, g.seq, err)
}

// request is a non-zero rank's side of a collective: it sends payload to
// rank 0 and reads the reply's header; read reads the reply's payload.
func (g *Group) request(op opcode, payload []byte, read func(c net.Conn, h header) error) error {
	if uint64(len(payload)) > maxPayload {
		return g.fail(fmt.Errorf("dist: collective #%d (%s): rank %d's payload of %d bytes exceeds the %d-byte limit", g.seq, op, g.rank, len(payload), uint64(maxPayload)))
	}
	c := g.conns[0]
	werr := writeFrame(c, op, g.seq, payload)
	// Read the reply even when the write failed: rank 0 may have sent an
	// error frame before closing, which says why far better than the
	// write's broken pipe.
	h, err := readHeader(c)
	switch {
	case err != nil:
		if werr != nil {
			err = werr
		}
		return g.fail(g.peerErr(0, op, err))
	case h.op == opError:
		return g.fail(readRemoteError(c, h))
	case werr != nil:
		return g.fail(g.peerErr(0, op, werr))
	case h.op != op || h.seq != g.seq:
		return g.fail(g.badReply(op, h))
	}
	if err := read(c, h); err != nil {
		if !errors.Is(err, errBadReply) {
			err = g.peerErr(0, op, err)
		}
		return g.fail(err)
	}
	return nil
}

// errBadReply marks a reply from rank 0 that does not answer this rank's
// request: a protocol bug or a corrupt stream, not a caller's mistake.
var errBadReply = errors.New("bad reply")

// emptyReply reads the reply of a collective whose reply carries nothing:
// rank 0's acknowledgement that it accepted this rank's request, so that a
// mismatch fails this call rather than the next one.
func (g *Group) emptyReply(op opcode) func(net.Conn, header) error {
	return func(_ net.Conn, h header) error {
		if h.n != 0 {
			return g.badReply(op, h)
		}
		return nil
	}
}

func (g *Group) badReply(op opcode, h header) error {
	return fmt.Errorf("dist: collective #%d (%s): %w from rank 0: %s of collective #%d with %d bytes", g.seq, op, errBadReply, h.op, h.seq, h.n)
}

// readRemoteError reads the text of rank 0's error frame.
func readRemoteError(c net.Conn, h header) error {
	if h.n > maxErrorLen {
		return fmt.Errorf("dist: rank 0 sent an error of %d bytes, over the %d-byte limit", h.n, maxErrorLen)
	}
	b, err := readBytes(c, h.n)
	if err != nil {
		return fmt.Errorf("dist: rank 0 left the job while sending an error: %w", err)
	}
	return errors.New("rank 0: " + string(b))
}

// collect is rank 0's first half of a collective: it reads every peer's
// request, one goroutine per peer so that a slow peer does not hold up
// reading the others. Each request must be the same collective as rank 0's
// call: same op, same sequence number and, unless n is anyLen, an n-byte
// payload. The payloads are returned in rank order. On an error collect
// aborts the group and returns the lowest rank's error.
func (g *Group) collect(op opcode, n uint64) ([][]byte, error) {
	got := make([][]byte, g.size)
	errs := make([]error, g.size)
	var wg sync.WaitGroup
	for r := 1; r < g.size; r++ {
		wg.Go(func() { got[r], errs[r] = g.readRequest(r, op, n) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, g.abort(err)
		}
	}
	return got, nil
}

func (g *Group) readRequest(r int, op opcode, n uint64) ([]byte, error) {
	c := g.conns[r]
	h, err := readHeader(c)
	if err != nil {
		return nil, g.peerErr(r, op, err)
	}
	if err := g.checkRequest(r, h, op, n); err != nil {
		// Read past the payload, so that the error frame rank 0 sends next
		// finds the peer reading its reply rather than a connection reset.
		if _, derr := io.CopyN(io.Discard, c, int64(h.n)); derr != nil {
			return nil, errors.Join(err, g.peerErr(r, op, derr))
		}
		return nil, err
	}
	b, err := readBytes(c, h.n)
	if err != nil {
		return nil, g.peerErr(r, op, err)
	}
	return b, nil
}

// checkRequest compares peer r's request header with rank 0's own call: a
// difference is the caller's programming error (ranks calling different
// collectives), and names both.
func (g *Group) checkRequest(r int, h header, op opcode, n uint64) error {
	switch {
	case h.seq != g.seq:
		return fmt.Errorf("dist: collective #%d: rank %d sent %s of collective #%d, rank 0 is in %s", g.seq, r, h.op, h.seq, op)
	case h.op != op:
		return fmt.Errorf("dist: collective #%d: rank %d called %s, rank 0 %s", g.seq, r, h.op, op)
	case n != anyLen && h.n != n:
		return fmt.Errorf("dist: collective #%d: rank %d sent %d bytes for %s, rank 0 expects %d", g.seq, r, h.n, op, n)
	}
	return nil
}

// replyAll is rank 0's second half of a collective: it sends the same
// frame to every peer, concurrently so that a slow peer does not delay the
// others' results.
func (g *Group) replyAll(op opcode, payload ...[]byte) error {
	var n uint64
	for _, p := range payload {
		n += uint64(len(p))
	}
	if n > maxPayload {
		return g.abort(fmt.Errorf("dist: collective #%d (%s): result of %d bytes exceeds the %d-byte limit", g.seq, op, n, uint64(maxPayload)))
	}
	errs := make([]error, g.size)
	var wg sync.WaitGroup
	for r := 1; r < g.size; r++ {
		wg.Go(func() {
			if err := writeFrame(g.conns[r], op, g.seq, payload...); err != nil {
				errs[r] = g.peerErr(r, op, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return g.abort(err)
		}
	}
	return nil
}
