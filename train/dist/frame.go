package dist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"unsafe"
)

// opcode says what a frame carries. Requests and replies of a collective
// carry that collective's opcode, so rank 0 can tell which call each peer is
// in.
type opcode uint8

const (
	opGo             opcode = iota + 1 // Join: every rank arrived, the job starts
	opError                            // the sender's group is broken; payload: why
	opAllReduceSum                     // float32 values
	opAllReduceSum64                   // float64 values
	opGather
	opAllGather
	opBroadcast
)

func (o opcode) String() string {
	switch o {
	case opGo:
		return "Join"
	case opError:
		return "an error"
	case opAllReduceSum:
		return "AllReduceSum"
	case opAllReduceSum64:
		return "AllReduceSum64"
	case opGather:
		return "Gather"
	case opAllGather:
		return "AllGather"
	case opBroadcast:
		return "Broadcast"
	}
	return fmt.Sprintf("op %d", uint8(o))
}

// headerSize is a frame header's size on the wire: op, sequence number,
// payload length.
const headerSize = 1 + 8 + 8

// maxPayload caps a frame's payload: far above any gradient buffer, yet it
// turns a corrupt length into an error before it becomes an allocation or an
// int overflow.
const maxPayload = min(1<<40, math.MaxInt)

// maxErrorLen caps an error frame's text, which is read whole.
const maxErrorLen = 64 << 10

// errBadHeader marks a header that no correct sender writes: the stream is
// corrupt or not ours, as opposed to a peer that went away.
var errBadHeader = errors.New("bad frame header")

type header struct {
	op  opcode
	seq uint64 // the collective's number on the group; 0 during Join
	n   uint64 // payload length in bytes
}

func (h header) encode() (b [headerSize]byte) {
	b[0] = byte(h.op)
	binary.LittleEndian.PutUint64(b[1:], h.seq)
	binary.LittleEndian.PutUint64(b[9:], h.n)
	return b
}

func decodeHeader(b *[headerSize]byte) (header, error) {
	h := header{
		op:  opcode(b[0]),
		seq: binary.LittleEndian.Uint64(b[1:]),
		n:   binary.LittleEndian.Uint64(b[9:]),
	}
	if h.op < opGo || h.op > opBroadcast {
		return header{}, fmt.Errorf("%w: op %d is unknown", errBadHeader, b[0])
	}
	if h.n > maxPayload {
		return header{}, fmt.Errorf("%w: %s payload of %d bytes exceeds the %d-byte limit", errBadHeader, h.op, h.n, uint64(maxPayload))
	}
	return h, nil
}

func readHeader(r io.Reader) (header, error) {
	var b [headerSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return header{}, err
	}
	return decodeHeader(&b)
}

// writeFrame writes a header and its payload, given in pieces, with one
// writev where the platform has it, so that large buffers go out without a
// copy into a frame.
func writeFrame(w io.Writer, op opcode, seq uint64, payload ...[]byte) error {
	var n uint64
	for _, p := range payload {
		n += uint64(len(p))
	}
	hdr := header{op, seq, n}.encode()
	bufs := make(net.Buffers, 0, 1+len(payload))
	bufs = append(bufs, hdr[:])
	bufs = append(bufs, payload...)
	_, err := bufs.WriteTo(w)
	return err
}

// readBytes reads an n-byte payload, growing the buffer as the bytes arrive
// instead of allocating n up front, so that a length the sender never backs
// with data ends in an EOF rather than in an out-of-memory crash.
func readBytes(r io.Reader, n uint64) ([]byte, error) {
	if n > maxPayload {
		return nil, fmt.Errorf("%w: payload of %d bytes exceeds the %d-byte limit", errBadHeader, n, uint64(maxPayload))
	}
	want := int(n)
	b := make([]byte, 0, min(want, 1<<20))
	for len(b) < want {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(want-len(b), len(b)))
		}
		end := min(want, cap(b))
		if _, err := io.ReadFull(r, b[len(b):end]); err != nil {
			return nil, err
		}
		b = b[:end]
	}
	return b, nil
}

// hello is what a non-zero rank sends first: magic, protocol version, its
// rank and its world size; to rank 0 also the port where it accepts the
// other ranks' connections (0 in a job of two, which needs none), and to
// another rank the job's token from rank 0's "go".
type hello struct {
	magic   [8]byte
	version uint32
	rank    uint64
	size    uint64
	port    uint64
	token   uint64
}

const helloSize = 8 + 4 + 8 + 8 + 8 + 8

// magic and version identify this protocol, so that rank 0 refuses a stray
// client or an incompatible build instead of misreading its bytes.
var magic = [8]byte{'t', 'r', 'm', '-', 'd', 'i', 's', 't'}

const version = 2

func (h hello) encode() (b [helloSize]byte) {
	copy(b[:8], h.magic[:])
	binary.LittleEndian.PutUint32(b[8:], h.version)
	binary.LittleEndian.PutUint64(b[12:], h.rank)
	binary.LittleEndian.PutUint64(b[20:], h.size)
	binary.LittleEndian.PutUint64(b[28:], h.port)
	binary.LittleEndian.PutUint64(b[36:], h.token)
	return b
}

func decodeHello(b *[helloSize]byte) hello {
	var h hello
	copy(h.magic[:], b[:8])
	h.version = binary.LittleEndian.Uint32(b[8:])
	h.rank = binary.LittleEndian.Uint64(b[12:])
	h.size = binary.LittleEndian.Uint64(b[20:])
	h.port = binary.LittleEndian.Uint64(b[28:])
	h.token = binary.LittleEndian.Uint64(b[36:])
	return h
}

// maxGoLen caps the "go" frame's payload: a token and one address per rank.
const maxGoLen = 1 << 20

// encodeGo is the payload of rank 0's "go" in a job of three or more: the
// job's token, then every non-zero rank's address for the others to
// connect to, one per line in rank order.
func encodeGo(token uint64, addrs []string) []byte {
	b := binary.LittleEndian.AppendUint64(nil, token)
	for _, a := range addrs {
		b = append(append(b, a...), '\n')
	}
	return b
}

// decodeGo reads encodeGo's payload for a job of size ranks.
func decodeGo(b []byte, size int) (token uint64, addrs []string, err error) {
	if len(b) < 8 {
		return 0, nil, fmt.Errorf("%w: a go of %d bytes has no token", errBadReply, len(b))
	}
	token = binary.LittleEndian.Uint64(b)
	text, ok := strings.CutSuffix(string(b[8:]), "\n")
	if !ok {
		return 0, nil, fmt.Errorf("%w: the addresses in a go do not end with a newline", errBadReply)
	}
	addrs = strings.Split(text, "\n")
	if len(addrs) != size-1 {
		return 0, nil, fmt.Errorf("%w: a go with %d lines of addresses for %d ranks", errBadReply, len(addrs), size-1)
	}
	for r, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return 0, nil, fmt.Errorf("%w: rank %d's address %q in the go: %w", errBadReply, r+1, a, err)
		}
	}
	return token, addrs, nil
}

type float interface{ float32 | float64 }

// asBytes views x's memory as bytes, in the host's byte order, so that
// gradient buffers go on and come off the wire without a copy. Every rank of
// a job runs on the same architecture (in practice little-endian amd64 or
// arm64), so the bytes mean the same floats everywhere.
func asBytes[T float](x []T) []byte {
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), len(x)*int(unsafe.Sizeof(zero)))
}

// scratch returns n elements of T backed by *buf, growing it as needed; the
// backing is []uint64 so that it is aligned for either float type and can be
// reused across float32 and float64 calls.
func scratch[T float](buf *[]uint64, n int) []T {
	var zero T
	words := (n*int(unsafe.Sizeof(zero)) + 7) / 8
	if cap(*buf) < words {
		*buf = make([]uint64, words)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(*buf))), n)
}
