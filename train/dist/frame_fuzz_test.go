package dist

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzDecodeHeader checks that the header decoder accepts exactly the
// headers a correct sender writes: a known op and a payload within
// maxPayload, which encode back to the same bytes.
func FuzzDecodeHeader(f *testing.F) {
	for _, h := range []header{
		{opAllReduceSum, 12, 4 << 20},
		{opError, 3, 40},
		{opGo, 0, 0},
		{opBroadcast, 1<<64 - 1, maxPayload},
		{opBroadcast + 1, 1, 1},
		{opGather, 2, maxPayload + 1},
	} {
		b := h.encode()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var b [headerSize]byte
		copy(b[:], in)
		h, err := decodeHeader(&b)
		op, n := opcode(b[0]), binary.LittleEndian.Uint64(b[9:])
		valid := op >= opGo && op <= opBroadcast && n <= maxPayload
		if err != nil {
			if valid {
				t.Fatalf("decodeHeader(%x) refused a valid header: %v", b, err)
			}
			return
		}
		if !valid {
			t.Fatalf("decodeHeader(%x) accepted op %d, length %d", b, op, n)
		}
		if h.encode() != b {
			t.Fatalf("decodeHeader(%x) = %+v, which encodes to %x", b, h, h.encode())
		}
	})
}

// FuzzDecodeGo: rank 0's "go" payload decodes without panicking, and what
// it accepts encodes back to the same bytes.
func FuzzDecodeGo(f *testing.F) {
	f.Add(encodeGo(7, []string{"127.0.0.1:4000", "127.0.0.1:4001"}), 3)
	f.Add([]byte("short"), 3)
	f.Add(encodeGo(1, []string{"h:1", "h:2", "h:3"}), 4)
	f.Fuzz(func(t *testing.T, b []byte, size int) {
		if size < 2 || size > 1<<10 {
			return
		}
		token, addrs, err := decodeGo(b, size)
		if err != nil {
			return
		}
		if len(addrs) != size-1 || !bytes.Equal(encodeGo(token, addrs), b) {
			t.Fatalf("decodeGo(%q, %d) = %d, %q, which encodes to %q", b, size, token, addrs, encodeGo(token, addrs))
		}
	})
}
