package dataset

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// FuzzReadNPY feeds arbitrary bytes to the .npy reader: it must never panic
// or over-allocate, every rejection must carry one of the npy error kinds,
// and whatever it accepts must survive a write/read round trip unchanged.
func FuzzReadNPY(f *testing.F) {
	f.Add(npyValidFile(f))
	f.Add(npyWithDict("{'descr': '|u1', 'fortran_order': False, 'shape': (), }\n", []byte{7}))
	f.Add(npyWithDict(`{"shape": (1, 2,), "descr": "<i8", "fortran_order": False}`, make([]byte, 16)))
	f.Add(npyWithDict("{'descr': '<i4', 'fortran_order': True, 'shape': (1,)}", make([]byte, 4)))
	f.Add(npyWithDict("{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999999, 99999)}", nil))
	f.Add([]byte("\x93NUMPY\x03\x00\x10\x00\x00\x00{'shape': (0,)}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, payload, err := ReadNPYFrom("fuzz.npy", bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrNPYMalformed) && !errors.Is(err, ErrNPYUnsupported) && !errors.Is(err, ErrNPYTruncated) {
				t.Fatalf("error without an npy kind: %v", err)
			}
			return
		}
		want, err := h.PayloadBytes()
		if err != nil || want != int64(len(payload)) {
			t.Fatalf("accepted %+v with %d payload bytes (want %d, %v)", h, len(payload), want, err)
		}
		var buf bytes.Buffer
		nw, err := NewNPYWriter(&buf, h)
		if err != nil {
			t.Fatalf("accepted header %+v cannot be written: %v", h, err)
		}
		if _, err := nw.Write(payload); err != nil {
			t.Fatal(err)
		}
		if err := nw.Close(); err != nil {
			t.Fatal(err)
		}
		h2, payload2, err := ReadNPYFrom("again.npy", &buf)
		if err != nil {
			t.Fatalf("re-reading our own output: %v", err)
		}
		if h2.Descr != h.Descr || !slices.Equal(h2.Shape, h.Shape) || !bytes.Equal(payload2, payload) {
			t.Fatalf("round trip changed %+v into %+v", h, h2)
		}
	})
}
