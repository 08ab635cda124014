//go:build unix

package procstat

import "testing"

func TestProcessFigures(t *testing.T) {
	before := CPUTime()
	x := 0
	for i := range 50_000_000 {
		x ^= i
	}
	if CPUTime() <= before || x == 1 {
		t.Fatalf("CPU time did not grow: %v then %v", before, CPUTime())
	}
	if PeakRSS() < 1<<20 {
		t.Fatalf("peak RSS %d bytes is implausibly small", PeakRSS())
	}
}
