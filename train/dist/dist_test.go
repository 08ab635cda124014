package dist

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hangGuard is a deadline on every test connection: collectives have none
// of their own, so without it a protocol bug would hang the test instead of
// failing it with an i/o timeout.
const hangGuard = 30 * time.Second

// start joins n ranks, each in its own goroutine, over 127.0.0.1.
func start(t testing.TB, n int) []*Group {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	groups := make([]*Group, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		cfg := Config{Rank: r, WorldSize: n, Addr: ln.Addr().String(), Timeout: 10 * time.Second}
		if r == 0 {
			cfg.Listener = ln
		}
		wg.Go(func() { groups[r], errs[r] = Join(t.Context(), cfg) })
	}
	wg.Wait()
	for _, g := range groups {
		if g == nil {
			continue
		}
		t.Cleanup(func() { _ = g.Close() })
		for _, c := range g.conns {
			if c != nil {
				if err := c.SetDeadline(time.Now().Add(hangGuard)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	for r, g := range groups {
		if g.Rank() != r || g.Size() != n {
			t.Fatalf("rank %d's group says rank %d of %d", r, g.Rank(), g.Size())
		}
	}
	return groups
}

// each runs f on every rank at once and returns the errors by rank.
func each(groups []*Group, f func(g *Group) error) []error {
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for r, g := range groups {
		wg.Go(func() { errs[r] = f(g) })
	}
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

// mixed returns values of magnitudes 1e-8 to 1e8, whose sums depend on the
// order of the additions.
func mixed[T float](rng *rand.Rand, n int) []T {
	x := make([]T, n)
	for i := range x {
		x[i] = T(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(17)-8)))
	}
	return x
}

func testAllReduce[T float](t *testing.T, reduce func(g *Group, x []T) error, bits func(T) uint64) {
	for n := 1; n <= 4; n++ {
		t.Run(fmt.Sprintf("%d ranks", n), func(t *testing.T) {
			t.Parallel()
			groups := start(t, n)
			rng := rand.New(rand.NewPCG(uint64(n), 7))
			const length = 1000
			inputs := make([][]T, n)
			for r := range inputs {
				inputs[r] = mixed[T](rng, length)
			}
			want := slices.Clone(inputs[0])
			for _, in := range inputs[1:] {
				for i, v := range in {
					want[i] += v
				}
			}
			if n >= 3 {
				// Were rank 0 to sum in another order, this test must see it.
				reversed := slices.Clone(inputs[n-1])
				for r := n - 2; r >= 0; r-- {
					for i, v := range inputs[r] {
						reversed[i] += v
					}
				}
				if slices.Equal(reversed, want) {
					t.Fatal("the test values give the same sum in either order")
				}
			}
			got := make([][]T, n)
			for r := range got {
				got[r] = slices.Clone(inputs[r])
			}
			noErrors(t, each(groups, func(g *Group) error { return reduce(g, got[g.Rank()]) }))
			for r := range got {
				for i := range want {
					if bits(got[r][i]) != bits(want[i]) {
						t.Fatalf("rank %d element %d: %v, want the rank-order sum %v", r, i, got[r][i], want[i])
					}
				}
			}

			// Empty vectors, nil or not, are a no-op that keeps the ranks in
			// step.
			noErrors(t, each(groups, func(g *Group) error {
				if g.Rank()%2 == 0 {
					return reduce(g, nil)
				}
				return reduce(g, []T{})
			}))
			if want := uint64(2); groups[0].seq != want {
				t.Errorf("sequence number %d after two collectives", groups[0].seq)
			}
		})
	}
}

func TestAllReduceSum(t *testing.T) {
	t.Parallel()
	testAllReduce(t, (*Group).AllReduceSum, func(v float32) uint64 { return uint64(math.Float32bits(v)) })
}

func TestAllReduceSum64(t *testing.T) {
	t.Parallel()
	testAllReduce(t, (*Group).AllReduceSum64, math.Float64bits)
}

func TestPayloads(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 4; n++ {
		t.Run(fmt.Sprintf("%d ranks", n), func(t *testing.T) {
			t.Parallel()
			groups := start(t, n)
			for _, tc := range []struct {
				name    string
				payload func(r int) []byte
			}{
				// Rank 0's is empty, the others' grow with the rank.
				{"sized by rank", func(r int) []byte { return bytes.Repeat([]byte{'a' + byte(r)}, 3*r) }},
				{"all empty", func(int) []byte { return nil }},
				{"all one size", func(r int) []byte { return []byte{byte(r), 0, 255} }},
			} {
				want := make([][]byte, n)
				for r := range want {
					want[r] = tc.payload(r)
				}
				gathered := make([][][]byte, n)
				noErrors(t, each(groups, func(g *Group) error {
					var err error
					gathered[g.Rank()], err = g.Gather(tc.payload(g.Rank()))
					return err
				}))
				equalParts(t, tc.name+": Gather on rank 0", gathered[0], want)
				for r := 1; r < n; r++ {
					if gathered[r] != nil {
						t.Errorf("%s: Gather on rank %d returned %q, want nil", tc.name, r, gathered[r])
					}
				}

				noErrors(t, each(groups, func(g *Group) error {
					var err error
					gathered[g.Rank()], err = g.AllGather(tc.payload(g.Rank()))
					return err
				}))
				for r := range n {
					equalParts(t, fmt.Sprintf("%s: AllGather on rank %d", tc.name, r), gathered[r], want)
				}

				got := make([][]byte, n)
				noErrors(t, each(groups, func(g *Group) error {
					var err error
					// The other ranks' payloads must be ignored.
					got[g.Rank()], err = g.Broadcast(tc.payload(g.Rank()))
					return err
				}))
				for r := range n {
					if !bytes.Equal(got[r], want[0]) {
						t.Errorf("%s: Broadcast on rank %d: %q, want rank 0's %q", tc.name, r, got[r], want[0])
					}
				}
			}
			noErrors(t, each(groups, func(g *Group) error {
				got, err := g.Broadcast([]byte("from rank 0"))
				if err == nil && string(got) != "from rank 0" {
					err = fmt.Errorf("Broadcast: %q", got)
				}
				return err
			}))
		})
	}
}

func equalParts(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d parts, want %d", what, len(got), len(want))
	}
	for r := range want {
		if !bytes.Equal(got[r], want[r]) {
			t.Errorf("%s: rank %d's part %q, want %q", what, r, got[r], want[r])
		}
	}
}

func TestManyCollectives(t *testing.T) {
	t.Parallel()
	const n, rounds = 3, 100
	groups := start(t, n)
	for round := range rounds {
		noErrors(t, each(groups, func(g *Group) error {
			x := []float64{float64(g.Rank() + round), 1}
			if err := g.AllReduceSum64(x); err != nil {
				return err
			}
			if want := float64(0 + 1 + 2 + n*round); x[0] != want || x[1] != n {
				return fmt.Errorf("round %d: sum %v, want [%v %d]", round, x, want, n)
			}
			parts, err := g.AllGather([]byte{byte(g.Rank()), byte(round)})
			if err != nil {
				return err
			}
			for r, p := range parts {
				if !bytes.Equal(p, []byte{byte(r), byte(round)}) {
					return fmt.Errorf("round %d: rank %d's part %v", round, r, p)
				}
			}
			return nil
		}))
	}
	for r, g := range groups {
		if g.seq != 2*rounds {
			t.Errorf("rank %d is at collective #%d, want #%d", r, g.seq, 2*rounds)
		}
	}
}

// mismatch runs call on every rank of a 3-rank group after two good
// collectives and checks that every rank fails with rank 0's text, and keeps
// failing with it.
func mismatch(t *testing.T, call func(g *Group) error, want string) {
	t.Helper()
	groups := start(t, 3)
	for range 2 {
		noErrors(t, each(groups, func(g *Group) error { return g.AllReduceSum(make([]float32, 4)) }))
	}
	errs := each(groups, call)
	for r, err := range errs {
		wantR := want
		if r != 0 {
			wantR = "rank 0: " + want
		}
		if err == nil || err.Error() != wantR {
			t.Errorf("rank %d: error %v, want %q", r, err, wantR)
		}
	}
	for r, g := range groups {
		if _, err := g.Broadcast(nil); err != errs[r] {
			t.Errorf("rank %d after the failure: %v, want the first error again", r, err)
		}
	}
}

func TestMismatchedOp(t *testing.T) {
	t.Parallel()
	mismatch(t, func(g *Group) error {
		if g.Rank() == 1 {
			_, err := g.AllGather([]byte("a payload rank 0 must skip"))
			return err
		}
		return g.AllReduceSum(make([]float32, 4))
	}, "dist: collective #3: rank 1 called AllGather, rank 0 AllReduceSum")
}

func TestMismatchedLength(t *testing.T) {
	t.Parallel()
	mismatch(t, func(g *Group) error {
		return g.AllReduceSum(make([]float32, 4+g.Rank()/2))
	}, "dist: collective #3: rank 2 called AllReduceSum with 5 values, rank 0 with 4")
}

func TestRankLeaves(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n, leaver int
		want      string
	}{
		{4, 2, "rank 2 left the job during AllReduceSum (collective #2)"},
		{3, 0, "rank 0 left the job during AllReduceSum (collective #2)"},
	} {
		t.Run(fmt.Sprintf("rank %d of %d", tc.leaver, tc.n), func(t *testing.T) {
			t.Parallel()
			groups := start(t, tc.n)
			noErrors(t, each(groups, func(g *Group) error { return g.AllReduceSum(make([]float32, 8)) }))
			errs := each(groups, func(g *Group) error {
				if g.Rank() == tc.leaver {
					return g.Close()
				}
				return g.AllReduceSum(make([]float32, 8))
			})
			for r, err := range errs {
				if r == tc.leaver {
					if err != nil {
						t.Errorf("Close on rank %d: %v", r, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("rank %d: error %v, want one saying %q", r, err, tc.want)
				}
			}
		})
	}
}

func TestCorruptFrame(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		g   *Group
		err error
	}
	root := make(chan result, 1)
	go func() {
		g, err := Join(t.Context(), Config{WorldSize: 2, Listener: ln, Timeout: 10 * time.Second})
		root <- result{g, err}
	}()
	// A peer that joins properly, then sends a length no sender writes.
	c := rawHello(t, ln.Addr().String(), hello{magic, version, 1, 2, 0, 0})
	if h, err := readHeader(c); err != nil || h.op != opGo {
		t.Fatalf("handshake reply %+v, %v", h, err)
	}
	res := <-root
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.g.Close()
	bad := header{opAllReduceSum, 1, 0}.encode()
	bad[16] = 0xff
	if _, err := c.Write(bad[:]); err != nil {
		t.Fatal(err)
	}
	err = res.g.AllReduceSum(make([]float32, 4))
	if err == nil || !strings.Contains(err.Error(), "collective #1 (AllReduceSum): from rank 1: bad frame header") {
		t.Errorf("AllReduceSum with a corrupt peer: %v", err)
	}
}

// rawHello dials addr and sends h, as a peer or an impostor would.
func rawHello(t *testing.T, addr string, h hello) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.SetDeadline(time.Now().Add(hangGuard)); err != nil {
		t.Fatal(err)
	}
	b := h.encode()
	if _, err := c.Write(b[:]); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestJoinRefuses(t *testing.T) {
	t.Parallel()
	// run joins the given configurations at once, rank 0's on a fresh
	// listener, and returns their errors.
	run := func(t *testing.T, cfgs ...Config) []error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		errs := make([]error, len(cfgs))
		var wg sync.WaitGroup
		for i, cfg := range cfgs {
			cfg.Addr, cfg.Timeout = ln.Addr().String(), 10*time.Second
			if cfg.Rank == 0 {
				cfg.Listener = ln
			}
			wg.Go(func() {
				g, err := Join(t.Context(), cfg)
				if g != nil {
					_ = g.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		return errs
	}

	t.Run("duplicate rank", func(t *testing.T) {
		t.Parallel()
		errs := run(t, Config{Rank: 0, WorldSize: 3}, Config{Rank: 1, WorldSize: 3}, Config{Rank: 1, WorldSize: 3})
		if errs[0] == nil || !strings.Contains(errs[0].Error(), "rank 1 from") || !strings.Contains(errs[0].Error(), "already joined") {
			t.Errorf("rank 0: %v, want a duplicate rank 1", errs[0])
		}
		told := 0
		for i, err := range errs[1:] {
			if err == nil {
				t.Errorf("rank 1 (#%d) joined", i)
			} else if strings.Contains(err.Error(), "rank 0: "+errs[0].Error()) {
				told++
			}
		}
		// The refused one is told why; the one that joined first may be told
		// too or may just see rank 0 hang up.
		if told == 0 {
			t.Errorf("neither rank 1 got rank 0's reason: %v", errs[1:])
		}
	})

	t.Run("world size", func(t *testing.T) {
		t.Parallel()
		errs := run(t, Config{Rank: 0, WorldSize: 2}, Config{Rank: 1, WorldSize: 3})
		const want = "says the job has 3 ranks, rank 0 says 2"
		if errs[0] == nil || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("rank 0: %v, want one saying %q", errs[0], want)
		}
		if errs[1] == nil || !strings.Contains(errs[1].Error(), "rank 0: "+errs[0].Error()) {
			t.Errorf("rank 1: %v, want rank 0's reason", errs[1])
		}
	})

	for _, tc := range []struct {
		name  string
		hello hello
		want  string
	}{
		{"rank out of range", hello{magic, version, 7, 2, 0, 0}, "rank 7 from"},
		{"rank 0 twice", hello{magic, version, 0, 2, 0, 0}, "rank 0 from"},
		{"not a peer", hello{[8]byte([]byte("GET / HT")), version, 1, 2, 0, 0}, "is not a trm dist peer"},
		{"other version", hello{magic, version + 1, 1, 2, 0, 0}, "is not a trm dist peer of protocol version 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() {
				_, err := Join(t.Context(), Config{WorldSize: 2, Listener: ln, Timeout: 10 * time.Second})
				errc <- err
			}()
			c := rawHello(t, ln.Addr().String(), tc.hello)
			h, err := readHeader(c)
			if err != nil || h.op != opError {
				t.Fatalf("reply %+v, %v; want an error frame", h, err)
			}
			msg := readRemoteError(c, h)
			rootErr := <-errc
			if rootErr == nil || !strings.Contains(rootErr.Error(), tc.want) {
				t.Errorf("rank 0: %v, want one saying %q", rootErr, tc.want)
			} else if msg.Error() != "rank 0: "+rootErr.Error() {
				t.Errorf("peer told %q, want rank 0's %q", msg, rootErr)
			}
		})
	}
}

func TestJoinConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Rank: 2, WorldSize: 2, Addr: "x:1"}, "rank 2 is outside [0, 2)"},
		{Config{Rank: -1, WorldSize: 2, Addr: "x:1"}, "rank -1 is outside [0, 2)"},
		{Config{WorldSize: 0}, "world size 0"},
		{Config{Rank: 1, WorldSize: 2}, "join as rank 1 of 2: no address"},
		{Config{Rank: 1, WorldSize: 2, Addr: "x:1", Timeout: -time.Second}, "negative timeout"},
	} {
		if _, err := Join(t.Context(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Join(%+v): %v, want one saying %q", tc.cfg, err, tc.want)
		}
	}
}

func TestJoinOneRank(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Join(t.Context(), Config{WorldSize: 1, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on the listener Join took: %v, want it closed", err)
	}
	x := []float32{1.5, -2}
	if err := g.AllReduceSum(x); err != nil || x[0] != 1.5 || x[1] != -2 {
		t.Errorf("AllReduceSum on one rank: %v, %v", x, err)
	}
	if parts, err := g.Gather([]byte("p")); err != nil || len(parts) != 1 || string(parts[0]) != "p" {
		t.Errorf("Gather on one rank: %q, %v", parts, err)
	}
}

// deadAddr is an address on which nobody listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestJoinTimeout(t *testing.T) {
	t.Parallel()
	t.Run("peer", func(t *testing.T) {
		t.Parallel()
		addr := deadAddr(t)
		_, err := Join(t.Context(), Config{Rank: 1, WorldSize: 2, Addr: addr, Timeout: 300 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer from rank 0 at "+addr) {
			t.Errorf("Join with nobody at %s: %v", addr, err)
		}
	})
	t.Run("rank 0", func(t *testing.T) {
		t.Parallel()
		_, err := Join(t.Context(), Config{WorldSize: 3, Addr: "127.0.0.1:0", Timeout: 300 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "ranks [1 2] did not arrive") {
			t.Errorf("Join with nobody coming: %v", err)
		}
	})
}

func TestJoinCancel(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Rank: 0, WorldSize: 2, Addr: "127.0.0.1:0"},
		{Rank: 1, WorldSize: 2, Addr: deadAddr(t)},
	} {
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := Join(ctx, cfg)
			errc <- err
		}()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("rank %d: Join after cancel: %v", cfg.Rank, err)
		}
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	groups := start(t, 2)
	for r, g := range groups {
		if err := g.Close(); err != nil {
			t.Errorf("rank %d: Close: %v", r, err)
		}
		if err := g.Close(); err != nil {
			t.Errorf("rank %d: second Close: %v", r, err)
		}
		if err := g.AllReduceSum(nil); !errors.Is(err, net.ErrClosed) {
			t.Errorf("rank %d: AllReduceSum after Close: %v", r, err)
		}
	}
}

func TestReadBytesDoesNotTrustLength(t *testing.T) {
	t.Parallel()
	// Allocating the claimed terabyte up front would crash the test.
	if _, err := readBytes(strings.NewReader("short"), maxPayload); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("readBytes of a terabyte from 5 bytes: %v", err)
	}
	b, err := readBytes(strings.NewReader(strings.Repeat("x", 3<<20)), 3<<20)
	if err != nil || len(b) != 3<<20 {
		t.Errorf("readBytes of 3 MiB: %d bytes, %v", len(b), err)
	}
}

func TestSplitPartsRejects(t *testing.T) {
	t.Parallel()
	table := func(lens ...uint64) []byte {
		var b []byte
		for _, n := range lens {
			b = binary.LittleEndian.AppendUint64(b, n)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short table", table(1)},
		{"overrun", append(table(1, 5), 'a', 'b')},
		{"trailing", append(table(1, 0), 'a', 'b')},
	} {
		if _, err := splitParts(tc.b, 2); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	good := map[string]string{"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "node0", "MASTER_PORT": "29500"}
	with := func(kv ...string) map[string]string {
		m := maps.Clone(good)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name      string
		env       map[string]string
		cfg       Config
		localRank int
		ok        bool
		err       string // a part of the error; "" for none
	}{
		{name: "unset", env: map[string]string{}},
		{name: "empty", env: map[string]string{"WORLD_SIZE": "", "RANK": "3"}},
		{name: "good", env: good, cfg: Config{Rank: 2, WorldSize: 4, Addr: "node0:29500"}, localRank: 1, ok: true},
		{name: "local rank defaults to rank", env: with("LOCAL_RANK", ""), cfg: Config{Rank: 2, WorldSize: 4, Addr: "node0:29500"}, localRank: 2, ok: true},
		{name: "ipv6", env: with("MASTER_ADDR", "::1"), cfg: Config{Rank: 2, WorldSize: 4, Addr: "[::1]:29500"}, localRank: 1, ok: true},
		{name: "one process", env: map[string]string{"WORLD_SIZE": "1"}, cfg: Config{WorldSize: 1}, ok: true},
		{name: "one process, rank 0", env: map[string]string{"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "3"}, cfg: Config{WorldSize: 1}, localRank: 3, ok: true},
		{name: "world size not a number", env: with("WORLD_SIZE", "four"), err: `WORLD_SIZE="four"`},
		{name: "world size 0", env: with("WORLD_SIZE", "0"), err: `WORLD_SIZE="0"`},
		{name: "rank unset", env: with("RANK", ""), err: "RANK is unset"},
		{name: "rank not a number", env: with("RANK", "x"), err: `RANK="x"`},
		{name: "rank too big", env: with("RANK", "4"), err: `RANK="4" is outside [0, WORLD_SIZE=4)`},
		{name: "rank negative", env: with("RANK", "-1"), err: `RANK="-1"`},
		{name: "one process, rank 1", env: map[string]string{"WORLD_SIZE": "1", "RANK": "1"}, err: `RANK="1"`},
		{name: "local rank not a number", env: with("LOCAL_RANK", "gpu0"), err: `LOCAL_RANK="gpu0"`},
		{name: "local rank negative", env: with("LOCAL_RANK", "-2"), err: `LOCAL_RANK="-2"`},
		{name: "no master addr", env: with("MASTER_ADDR", ""), err: "MASTER_ADDR is unset"},
		{name: "no master port", env: with("MASTER_PORT", ""), err: "MASTER_PORT is unset"},
		{name: "port not a number", env: with("MASTER_PORT", "http"), err: `MASTER_PORT="http"`},
		{name: "port too big", env: with("MASTER_PORT", "65536"), err: `MASTER_PORT="65536"`},
		{name: "port 0", env: with("MASTER_PORT", "0"), err: `MASTER_PORT="0"`},
		{name: "torchrun's static rendezvous", env: with("TORCHELASTIC_USE_AGENT_STORE", "True"), err: "--standalone"},
		{name: "torchrun's c10d rendezvous", env: with("TORCHELASTIC_USE_AGENT_STORE", "False"), cfg: Config{Rank: 2, WorldSize: 4, Addr: "node0:29500"}, localRank: 1, ok: true},
	} {
		cfg, localRank, ok, err := FromEnv(func(k string) string { return tc.env[k] })
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one naming %s", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || ok != tc.ok || cfg != tc.cfg || localRank != tc.localRank {
			t.Errorf("%s: %+v, local rank %d, ok %v, %v; want %+v, %d, %v", tc.name, cfg, localRank, ok, err, tc.cfg, tc.localRank, tc.ok)
		}
	}
}

// TestAllReduceShortVectors: vectors shorter than the job, where some ranks
// own no values of the mesh's chunks, still sum in rank order everywhere.
func TestAllReduceShortVectors(t *testing.T) {
	t.Parallel()
	groups := start(t, 5)
	rng := rand.New(rand.NewPCG(5, 5))
	for length := range 8 {
		inputs := make([][]float32, len(groups))
		for r := range inputs {
			inputs[r] = mixed[float32](rng, length)
		}
		want := slices.Clone(inputs[0])
		for _, in := range inputs[1:] {
			for i, v := range in {
				want[i] += v
			}
		}
		noErrors(t, each(groups, func(g *Group) error { return g.AllReduceSum(inputs[g.Rank()]) }))
		for r, got := range inputs {
			if !slices.Equal(got, want) {
				t.Fatalf("length %d, rank %d: %v, want the rank-order sum %v", length, r, got, want)
			}
		}
	}
}

// countingConn counts the bytes a connection moves both ways.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// TestAllReduceTraffic: in a job of n ranks an all-reduce of S bytes moves
// about 2·(n-1)/n·S bytes each way on every rank, rank 0 included (a star
// through rank 0 would make it move 2·(n-1)·S each way).
func TestAllReduceTraffic(t *testing.T) {
	t.Parallel()
	const n, values = 4, 1 << 18
	groups := start(t, n)
	moved := make([]atomic.Int64, n)
	for r, g := range groups {
		for p, c := range g.conns {
			if c != nil {
				g.conns[p] = countingConn{c, &moved[r]}
			}
		}
	}
	noErrors(t, each(groups, func(g *Group) error { return g.AllReduceSum(make([]float32, values)) }))
	size := int64(4 * values)
	// Both ways: 2 phases x (n-1)/n of the vector, sent and received.
	want := 2 * 2 * size * (n - 1) / n
	for r := range moved {
		got := moved[r].Load()
		if got < want || got > want+4096 {
			t.Errorf("rank %d moved %d bytes for an all-reduce of %d bytes over %d ranks, want %d and headers", r, got, size, n, want)
		}
	}
}

// TestRankLeavesDuringReduce: a rank whose connection to another breaks
// between the two rounds of an all-reduce breaks the job: every rank fails
// in that collective, naming a rank that left, and keeps failing.
func TestRankLeavesDuringReduce(t *testing.T) {
	t.Parallel()
	groups := start(t, 4)
	noErrors(t, each(groups, func(g *Group) error { return g.AllReduceSum(make([]float32, 64)) }))
	// Rank 3's connection to rank 1 goes away: the length round, through
	// rank 0, still succeeds; the mesh round cannot.
	if err := groups[3].conns[1].Close(); err != nil {
		t.Fatal(err)
	}
	errs := each(groups, func(g *Group) error { return g.AllReduceSum(make([]float32, 64)) })
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "left the job during AllReduceSum (collective #2)") {
			t.Errorf("rank %d: %v, want a rank that left during collective #2", r, err)
			continue
		}
		if again := groups[r].AllReduceSum(make([]float32, 64)); again == nil || again.Error() != err.Error() {
			t.Errorf("rank %d's next call: %v, want the first error %v", r, again, err)
		}
	}
}

func TestDecodeGo(t *testing.T) {
	token, addrs, err := decodeGo(encodeGo(42, []string{"10.0.0.1:5000", "[::1]:6000"}), 3)
	if err != nil || token != 42 || !slices.Equal(addrs, []string{"10.0.0.1:5000", "[::1]:6000"}) {
		t.Errorf("round trip: %d %q %v", token, addrs, err)
	}
	for _, tc := range []struct {
		b    []byte
		size int
		want string
	}{
		{[]byte{1, 2, 3}, 3, "no token"},
		{encodeGo(1, []string{"a:1"}), 3, "1 lines of addresses for 2 ranks"},
		{encodeGo(1, []string{"a:1", "b:2", "c:3"}), 3, "3 lines of addresses for 2 ranks"},
		{append(encodeGo(1, []string{"a:1", "b:2"}), 'x'), 3, "do not end with a newline"},
		{encodeGo(1, []string{"a:1", "no port"}), 3, `rank 2's address "no port"`},
	} {
		if _, _, err := decodeGo(tc.b, tc.size); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decodeGo(%q, %d): %v, want %q", tc.b, tc.size, err, tc.want)
		}
	}
}

// TestMeshRefusesStrangers plays rank 0 of a job of three by hand: before
// the "go", a stranger connects to rank 1's mesh port claiming to be rank 2
// with the wrong token, and another says nothing at all; rank 1 must drop
// both and take rank 2.
func TestMeshRefusesStrangers(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		g   *Group
		err error
	}
	results := make([]chan result, 3)
	for r := 1; r <= 2; r++ {
		results[r] = make(chan result, 1)
		go func() {
			g, err := Join(t.Context(), Config{Rank: r, WorldSize: 3, Addr: ln.Addr().String(), Timeout: 10 * time.Second})
			results[r] <- result{g, err}
		}()
	}
	conns, hellos := make([]net.Conn, 3), make([]hello, 3)
	for range 2 {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		var b [helloSize]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			t.Fatal(err)
		}
		h := decodeHello(&b)
		if h.rank < 1 || h.rank > 2 || h.port == 0 {
			t.Fatalf("hello %+v: want rank 1 or 2 with a mesh port", h)
		}
		conns[h.rank], hellos[h.rank] = c, h
	}
	const token = 0x5eed
	mesh := func(r int) string { return fmt.Sprintf("127.0.0.1:%d", hellos[r].port) }
	wrongToken := rawHello(t, mesh(1), hello{magic, version, 2, 3, 0, token + 1})
	silent, err := net.Dial("tcp", mesh(1))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := encodeGo(token, []string{mesh(1), mesh(2)})
	for r := 1; r <= 2; r++ {
		if err := writeFrame(conns[r], opGo, 0, start); err != nil {
			t.Fatal(err)
		}
	}
	// The silent one holds up nothing: Join's handshakes run concurrently.
	groups := make([]*Group, 3)
	for r := 1; r <= 2; r++ {
		res := <-results[r]
		if res.err != nil {
			t.Fatalf("rank %d: %v", r, res.err)
		}
		groups[r] = res.g
		defer res.g.Close()
	}
	if _, err := wrongToken.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("a hello with the wrong token: read %v, want the connection closed", err)
	}
	// Ranks 1 and 2 hold the two ends of one connection.
	for _, c := range []net.Conn{groups[1].conns[2], groups[2].conns[1]} {
		if err := c.SetDeadline(time.Now().Add(hangGuard)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := groups[1].conns[2].Write([]byte("mesh")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(groups[2].conns[1], got); err != nil || string(got) != "mesh" {
		t.Errorf("rank 2 read %q, %v from its connection to rank 1", got, err)
	}
}

// TestMeshTimeout: a rank that never connects to the mesh ends Join on the
// rank waiting for it, naming it, once Timeout passes.
func TestMeshTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		g, err := Join(t.Context(), Config{Rank: 1, WorldSize: 3, Addr: ln.Addr().String(), Timeout: 500 * time.Millisecond})
		if g != nil {
			_ = g.Close()
		}
		errc <- err
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b [helloSize]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	h := decodeHello(&b)
	// Rank 2 is announced but never comes.
	start := encodeGo(1, []string{fmt.Sprintf("127.0.0.1:%d", h.port), "127.0.0.1:1"})
	if err := writeFrame(c, opGo, 0, start); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "dist: join as rank 1 of 3: ranks [2] did not connect") {
		t.Errorf("Join: %v, want rank 2 named", err)
	}
}
