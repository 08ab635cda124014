package dist

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Config places one process in a job.
type Config struct {
	Rank, WorldSize int
	// Addr is rank 0's host:port (torchrun's MASTER_ADDR:MASTER_PORT): rank
	// 0 listens there, the others connect.
	Addr string
	// Listener, when set on rank 0, is used instead of listening on Addr
	// (tests and launchers bind port 0 first, avoiding a race for a free
	// port). Join takes ownership and closes it.
	Listener net.Listener
	// Timeout bounds how long Join waits for every rank to arrive (0: 5
	// minutes). Collectives themselves have no deadline (a rank may
	// legitimately spend minutes writing a checkpoint while others wait); a
	// rank that dies closes its connection, which ends every other rank's
	// wait with an error.
	Timeout time.Duration
}

const defaultTimeout = 5 * time.Minute

// keepAlive probes an idle connection after 15 s and gives up after four
// unanswered probes: collectives have no deadline, so this is what ends a
// wait on a host that vanished without closing its connections (power
// loss, partition), about a minute later.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 4}

// Join connects this process to the others. Rank 0 accepts WorldSize-1
// connections; every other rank dials Addr, retrying (rank 0 may start
// later) until Timeout or ctx ends.
//
// Handshake: each peer sends a fixed magic, the protocol version, its rank
// and its world size; rank 0 refuses (with an error message sent back to
// that peer, and an error on rank 0 too) a wrong magic or version, a rank
// out of range, a rank that already joined, or a world size that differs
// from its own. Join returns on every rank only once all ranks have joined
// (rank 0 sends "go" to all after the last arrives); in a job of three or
// more, a non-zero rank returns once it is also connected to every other
// non-zero rank (it dials the lower ranks at the addresses in the "go" and
// accepts the higher ones on a port of its own, given in its hello).
// WorldSize 1 returns a Group with no connections at once.
func Join(ctx context.Context, cfg Config) (*Group, error) {
	if err := cfg.check(); err != nil {
		if cfg.Listener != nil {
			// Join owns the listener whatever happens.
			_ = cfg.Listener.Close()
		}
		return nil, err
	}
	if cfg.WorldSize == 1 {
		if cfg.Listener != nil {
			if err := cfg.Listener.Close(); err != nil {
				return nil, fmt.Errorf("dist: join as rank 0 of 1: close listener: %w", err)
			}
		}
		return newGroup(0, 1), nil
	}
	timeout := cmp.Or(cfg.Timeout, defaultTimeout)
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("gave up after %v: %w", timeout, context.DeadlineExceeded))
	defer cancel()
	if cfg.Rank == 0 {
		return joinRoot(ctx, cfg)
	}
	return joinPeer(ctx, cfg)
}

func (cfg Config) check() error {
	switch {
	case cfg.WorldSize < 1:
		return fmt.Errorf("dist: join: world size %d, want at least 1", cfg.WorldSize)
	case cfg.Rank < 0 || cfg.Rank >= cfg.WorldSize:
		return fmt.Errorf("dist: join: rank %d is outside [0, %d)", cfg.Rank, cfg.WorldSize)
	case cfg.Timeout < 0:
		return fmt.Errorf("dist: join as rank %d of %d: negative timeout %v", cfg.Rank, cfg.WorldSize, cfg.Timeout)
	case cfg.WorldSize > 1 && cfg.Addr == "" && (cfg.Rank != 0 || cfg.Listener == nil):
		return fmt.Errorf("dist: join as rank %d of %d: no address for rank 0", cfg.Rank, cfg.WorldSize)
	}
	return nil
}

func newGroup(rank, size int) *Group {
	return &Group{rank: rank, size: size, conns: make([]net.Conn, size), scratch: make([][]uint64, size)}
}

// arrival is a connection that sent a hello, waiting for rank 0's verdict.
type arrival struct {
	conn  net.Conn
	hello hello
}

func joinRoot(ctx context.Context, cfg Config) (*Group, error) {
	ws := cfg.WorldSize
	prefix := fmt.Sprintf("dist: join as rank 0 of %d", ws)
	ln := cfg.Listener
	if ln == nil {
		var lc net.ListenConfig
		var err error
		if ln, err = lc.Listen(ctx, "tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("%s: %w", prefix, err)
		}
	}
	prefix += " at " + ln.Addr().String()
	// Every hello goes to checkHello below, which tells a refused peer why.
	arrivals, acceptErr, stop := acceptHellos(ctx, ln, func(hello) bool { return true })
	defer stop()

	g := newGroup(0, ws)
	ports := make([]uint64, ws)
	for joined := 1; joined < ws; {
		select {
		case a := <-arrivals:
			if err := checkHello(a, g, ws); err != nil {
				err = fmt.Errorf("%s: %w", prefix, err)
				refuse(a.conn, err)
				return nil, g.abort(err)
			}
			g.conns[a.hello.rank] = a.conn
			ports[a.hello.rank] = a.hello.port
			joined++
		case err := <-acceptErr:
			if ctx.Err() != nil {
				err = fmt.Errorf("%s: ranks %v did not arrive: %w", prefix, missing(g), context.Cause(ctx))
			} else {
				err = fmt.Errorf("%s: accept: %w", prefix, err)
			}
			return nil, g.abort(err)
		}
	}
	// In a job of three or more, the "go" tells every rank where the
	// others accept connections (at the address rank 0 sees it from), and
	// a token that proves a connection comes from this job.
	var start []byte
	if ws >= 3 {
		var token [8]byte
		if _, err := rand.Read(token[:]); err != nil {
			return nil, g.abort(fmt.Errorf("%s: %w", prefix, err))
		}
		addrs := make([]string, ws-1)
		for r := 1; r < ws; r++ {
			host, _, err := net.SplitHostPort(g.conns[r].RemoteAddr().String())
			if err != nil {
				return nil, g.abort(fmt.Errorf("%s: rank %d's address: %w", prefix, r, err))
			}
			addrs[r-1] = net.JoinHostPort(host, strconv.FormatUint(ports[r], 10))
		}
		start = encodeGo(binary.LittleEndian.Uint64(token[:]), addrs)
	}
	deadline, _ := ctx.Deadline()
	for r := 1; r < ws; r++ {
		if err := startPeer(g.conns[r], deadline, start); err != nil {
			return nil, g.abort(fmt.Errorf("%s: rank %d left before the job started: %w", prefix, r, err))
		}
	}
	return g, nil
}

// meshTimeout names the higher ranks that did not connect before ctx ended.
func meshTimeout(ctx context.Context, g *Group) error {
	var m []int
	for r := g.rank + 1; r < g.size; r++ {
		if g.conns[r] == nil {
			m = append(m, r)
		}
	}
	return fmt.Errorf("ranks %v did not connect: %w", m, context.Cause(ctx))
}

// acceptHellos accepts connections on ln and reads each one's hello,
// concurrently so that a client that connects and says nothing does not
// hold up the ranks behind it. A connection whose hello keep accepts goes
// to arrivals; the others (and those that send no hello: not a peer, or one
// that went away mid-hello, while the real rank may still come) are closed.
// Accept's error goes to acceptErr. stop closes ln, ends the handshakes still
// running (stray or surplus connections) and waits for them.
func acceptHellos(ctx context.Context, ln net.Listener, keep func(hello) bool) (arrivals <-chan arrival, acceptErr <-chan error, stop func()) {
	hctx, cancel := context.WithCancel(ctx)
	context.AfterFunc(hctx, func() { _ = ln.Close() }) // ends Accept
	arrived, failed := make(chan arrival), make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				failed <- err
				return
			}
			wg.Go(func() {
				h, err := readHello(hctx, c)
				if err != nil || !keep(h) {
					_ = c.Close()
					return
				}
				select {
				case arrived <- arrival{c, h}:
				case <-hctx.Done():
					_ = c.Close()
				}
			})
		}
	})
	return arrived, failed, func() {
		cancel()
		_ = ln.Close()
		wg.Wait()
	}
}

// startPeer sends a joined peer "go" (with the mesh addresses, if any) and
// readies its connection for collectives.
func startPeer(c net.Conn, deadline time.Time, start []byte) error {
	if err := c.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if err := writeFrame(c, opGo, 0, start); err != nil {
		return err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return err
	}
	return setKeepAlive(c)
}

func setKeepAlive(c net.Conn) error {
	if tc, ok := c.(*net.TCPConn); ok {
		return tc.SetKeepAliveConfig(keepAlive)
	}
	return nil
}

// readHello reads a peer's hello; ctx ending interrupts the read.
func readHello(ctx context.Context, c net.Conn) (hello, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	var b [helloSize]byte
	_, err := io.ReadFull(c, b[:])
	if !stop() {
		// The deadline may be set, or about to be: this connection is no
		// longer usable, and Join is over anyway.
		return hello{}, context.Cause(ctx)
	}
	if err != nil {
		return hello{}, err
	}
	return decodeHello(&b), nil
}

func checkHello(a arrival, g *Group, ws int) error {
	h, from := a.hello, a.conn.RemoteAddr()
	switch {
	case h.magic != magic || h.version != version:
		return fmt.Errorf("connection from %s is not a trm dist peer of protocol version %d (magic %q, version %d)", from, version, h.magic[:], h.version)
	case h.size != uint64(ws):
		return fmt.Errorf("rank %d from %s says the job has %d ranks, rank 0 says %d", h.rank, from, h.size, ws)
	case h.rank == 0 || h.rank >= uint64(ws):
		return fmt.Errorf("rank %d from %s is outside [1, %d)", h.rank, from, ws)
	case g.conns[h.rank] != nil:
		return fmt.Errorf("rank %d from %s already joined from %s", h.rank, from, g.conns[h.rank].RemoteAddr())
	}
	return nil
}

// refuse tells a connection why rank 0 turns it away, then closes it.
func refuse(c net.Conn, err error) {
	// Best effort: the refusal is also rank 0's own error.
	_ = c.SetWriteDeadline(time.Now().Add(abortWriteTimeout))
	_ = writeFrame(c, opError, 0, []byte(err.Error()))
	_ = c.Close()
}

// missing lists the ranks that have not joined g.
func missing(g *Group) []int {
	var m []int
	for r, c := range g.conns[1:] {
		if c == nil {
			m = append(m, r+1)
		}
	}
	return m
}

func joinPeer(ctx context.Context, cfg Config) (*Group, error) {
	prefix := fmt.Sprintf("dist: join as rank %d of %d", cfg.Rank, cfg.WorldSize)
	c, err := dial(ctx, cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: no answer from rank 0 at %s: %w", prefix, cfg.Addr, err)
	}
	// In a job of three or more the ranks also connect to each other
	// (the all-reduces' mesh): this rank accepts the higher ranks on the
	// interface that reaches rank 0.
	var ln net.Listener
	if cfg.WorldSize >= 3 {
		host, _, _ := net.SplitHostPort(c.LocalAddr().String())
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", net.JoinHostPort(host, "0")); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("%s: listen for the other ranks: %w", prefix, err)
		}
		defer ln.Close()
	}
	start, err := handshake(ctx, c, cfg, ln)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("%s: rank 0 at %s: %w", prefix, cfg.Addr, err)
	}
	g := newGroup(cfg.Rank, cfg.WorldSize)
	g.conns[0] = c
	if ln != nil {
		if err := connectMesh(ctx, g, ln, start); err != nil {
			return nil, g.fail(fmt.Errorf("%s: %w", prefix, err))
		}
	}
	return g, nil
}

// connectMesh connects g's rank to every other non-zero rank: it dials the
// lower ones at the addresses in rank 0's "go" and accepts the higher ones
// on ln, each announcing itself with a hello that carries the job's token.
func connectMesh(ctx context.Context, g *Group, ln net.Listener, start []byte) error {
	token, addrs, err := decodeGo(start, g.size)
	if err != nil {
		return fmt.Errorf("rank 0's go: %w", err)
	}
	// Connections not from this job are closed unanswered.
	arrivals, acceptErr, stop := acceptHellos(ctx, ln, func(h hello) bool {
		return h.magic == magic && h.version == version && h.token == token && h.size == uint64(g.size)
	})
	defer stop()
	d := net.Dialer{KeepAliveConfig: keepAlive}
	for r := 1; r < g.rank; r++ {
		c, err := d.DialContext(ctx, "tcp", addrs[r-1])
		if err != nil {
			return fmt.Errorf("connect to rank %d at %s: %w", r, addrs[r-1], err)
		}
		g.conns[r] = c
		b := hello{magic, version, uint64(g.rank), uint64(g.size), 0, token}.encode()
		if _, err := c.Write(b[:]); err != nil {
			return fmt.Errorf("connect to rank %d at %s: %w", r, addrs[r-1], err)
		}
	}
	for joined := g.rank + 1; joined < g.size; {
		select {
		case a := <-arrivals:
			r := a.hello.rank
			if r <= uint64(g.rank) || r >= uint64(g.size) || g.conns[r] != nil {
				_ = a.conn.Close() // not a rank that connects here, or a second time
				continue
			}
			if err := setKeepAlive(a.conn); err != nil {
				_ = a.conn.Close()
				return fmt.Errorf("rank %d's connection: %w", r, err)
			}
			g.conns[r] = a.conn
			joined++
		case err := <-acceptErr:
			if ctx.Err() == nil {
				return fmt.Errorf("accept the other ranks: %w", err)
			}
			// ctx ended, which closed ln.
			return meshTimeout(ctx, g)
		case <-ctx.Done():
			return meshTimeout(ctx, g)
		}
	}
	return nil
}

// dial connects to addr, retrying until ctx ends: rank 0 may start after
// this rank.
func dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{KeepAliveConfig: keepAlive}
	wait := 20 * time.Millisecond
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last attempt: %v)", context.Cause(ctx), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// handshake sends this rank's hello (with ln's port, where it accepts the
// other ranks, if any) and waits for rank 0's "go", which comes once every
// rank has arrived; it returns the go's payload.
func handshake(ctx context.Context, c net.Conn, cfg Config, ln net.Listener) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	start, err := sayHello(c, cfg, ln)
	if !stop() {
		return nil, fmt.Errorf("waiting for the other ranks: %w", context.Cause(ctx))
	}
	return start, err
}

func sayHello(c net.Conn, cfg Config, ln net.Listener) ([]byte, error) {
	h := hello{magic: magic, version: version, rank: uint64(cfg.Rank), size: uint64(cfg.WorldSize)}
	if ln != nil {
		h.port = uint64(ln.Addr().(*net.TCPAddr).Port)
	}
	b := h.encode()
	if _, err := c.Write(b[:]); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	reply, err := readHeader(c)
	switch {
	case err != nil:
		return nil, fmt.Errorf("closed the connection before the job started: %w", err)
	case reply.op == opError:
		return nil, readRemoteError(c, reply)
	case reply.op != opGo || reply.seq != 0 || reply.n > maxGoLen || (ln == nil) != (reply.n == 0):
		return nil, fmt.Errorf("%w: %s of collective #%d with %d bytes instead of go", errBadReply, reply.op, reply.seq, reply.n)
	}
	start, err := readBytes(c, reply.n)
	if err != nil {
		return nil, fmt.Errorf("closed the connection before the job started: %w", err)
	}
	return start, nil
}
