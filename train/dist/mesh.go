package dist

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
)

// allReduce sums x over the ranks in two rounds. First every rank tells
// rank 0 its length and rank 0 answers once all agree (or fails every rank
// with a message naming both calls). Then the values move over the mesh,
// each rank owning one contiguous chunk of x: every rank sends chunk s to
// rank s and receives its own chunk from every rank (reduce-scatter), sums
// it in rank order, and sends the sum to every rank (all-gather). Each rank
// thus sends and receives 2·(size-1)/size·len(x) values, where a star
// through rank 0 makes rank 0 move 2·(size-1)·len(x); and the sums are the
// star's, ((x0 + x1) + x2) + ..., bit for bit.
func allReduce[T float](g *Group, op opcode, x []T) error {
	if err := g.begin(); err != nil {
		return err
	}
	if err := g.agreeLength(op, uint64(len(x))); err != nil {
		return err
	}
	if g.size == 1 {
		return nil
	}
	return meshReduce(g, op, x)
}

// agreeLength is the first round of an all-reduce: the request carries the
// caller's element count, the reply is empty.
func (g *Group) agreeLength(op opcode, n uint64) error {
	var count [8]byte
	binary.LittleEndian.PutUint64(count[:], n)
	if g.rank != 0 {
		return g.request(op, count[:], g.emptyReply(op))
	}
	got, err := g.collect(op, uint64(len(count)))
	if err != nil {
		return err
	}
	for r := 1; r < g.size; r++ {
		if m := binary.LittleEndian.Uint64(got[r]); m != n {
			return g.abort(fmt.Errorf("dist: collective #%d: rank %d called %s with %d values, rank 0 with %d", g.seq, r, op, m, n))
		}
	}
	return g.replyAll(op)
}

// chunk is rank r's share of n values: [r·n/size, (r+1)·n/size).
func chunk(r, size, n int) (lo, hi int) {
	return int(uint64(r) * uint64(n) / uint64(size)), int(uint64(r+1) * uint64(n) / uint64(size))
}

// meshReduce is the second round of allReduce; see there.
func meshReduce[T float](g *Group, op opcode, x []T) error {
	lo, hi := chunk(g.rank, g.size, len(x))
	own := x[lo:hi]
	parts := make([][]T, g.size)
	for r := range parts {
		if r == g.rank {
			parts[r] = own
		} else {
			parts[r] = scratch[T](&g.scratch[r], len(own))
		}
	}
	err := g.exchange(op, func(r int) []byte {
		lo, hi := chunk(r, g.size, len(x))
		return asBytes(x[lo:hi])
	}, func(r int) []byte { return asBytes(parts[r]) })
	if err != nil {
		return err
	}
	// In rank order, as the star summed: ((p0 + p1) + p2) + ...
	sum := scratch[T](&g.sum, len(own))
	copy(sum, parts[0])
	for _, p := range parts[1:] {
		for i, v := range p {
			sum[i] += v
		}
	}
	copy(own, sum)
	return g.exchange(op, func(int) []byte { return asBytes(own) }, func(r int) []byte {
		lo, hi := chunk(r, g.size, len(x))
		return asBytes(x[lo:hi])
	})
}

// exchange sends send(r) to every other rank r and reads from each the
// frame it sends back into recv(r), all at once: one goroutine per
// direction and peer, so that no rank waits on another's reading. The
// first failure breaks the group and closes its connections at once (every
// goroutine still blocked then ends), and is the error returned; an error
// caused only by that closing is not.
func (g *Group) exchange(op opcode, send, recv func(r int) []byte) error {
	var (
		mu    sync.Mutex
		first error
		once  sync.Once
		wg    sync.WaitGroup
	)
	broke := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		once.Do(func() { _ = g.closeConns() })
	}
	for r, c := range g.conns {
		if r == g.rank {
			continue
		}
		wg.Go(func() {
			if err := writeFrame(c, op, g.seq, send(r)); err != nil {
				broke(g.peerErr(r, op, err))
			}
		})
		wg.Go(func() {
			if err := g.readPart(c, r, op, recv(r)); err != nil {
				broke(err)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return g.fail(first)
	}
	return nil
}

// readPart reads rank r's frame of this collective into into, which must
// be exactly its payload.
func (g *Group) readPart(c net.Conn, r int, op opcode, into []byte) error {
	h, err := readHeader(c)
	switch {
	case err != nil:
		return g.peerErr(r, op, err)
	case h.op != op || h.seq != g.seq || h.n != uint64(len(into)):
		return fmt.Errorf("dist: collective #%d (%s): %w from rank %d: %s of collective #%d with %d bytes, want %d", g.seq, op, errBadReply, r, h.op, h.seq, h.n, len(into))
	}
	if _, err := io.ReadFull(c, into); err != nil {
		return g.peerErr(r, op, err)
	}
	return nil
}
