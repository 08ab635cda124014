package progress

import (
	"os"
	"testing"
)

// TestQuietOrNotTerminal: quiet, or stderr not a terminal (a file here),
// gives no bar, and a nil bar's methods do nothing: progress never reaches
// logs or pipes.
func TestQuietOrNotTerminal(t *testing.T) {
	if b := New(10, "rows", "rows", true); b != nil {
		t.Error("quiet: got a bar")
	}
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stderr
	os.Stderr = f
	b := New(10, "rows", "rows", false)
	os.Stderr = saved
	if b != nil {
		t.Error("stderr is a file: got a bar")
	}
	b.Add(5)
	b.Finish()
	if st, err := f.Stat(); err != nil || st.Size() != 0 {
		t.Errorf("a nil bar wrote %d bytes (%v)", st.Size(), err)
	}
}
