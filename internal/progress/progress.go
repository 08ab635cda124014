// Package progress draws progress bars on stderr for long work (builds,
// generation, verification), and stays silent when stderr is not a terminal
// or the user asked for quiet, so logs and pipes never fill with redraws.
package progress

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Bar counts units of work. A nil *Bar is valid and does nothing, so code
// can report progress unconditionally.
type Bar struct {
	bar *progressbar.ProgressBar
}

// New starts a bar for total units (-1: unknown total, a spinner) named
// desc, counting unit ("rows", "tasks"). It returns nil when quiet is set or
// stderr is not a terminal.
func New(total int64, desc, unit string, quiet bool) *Bar {
	if quiet || !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	return &Bar{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowIts(),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionFullWidth(),
		progressbar.OptionClearOnFinish(),
	)}
}

// Add records n more units; safe for concurrent use.
func (b *Bar) Add(n int) {
	if b == nil {
		return
	}
	b.bar.Add(n)
}

// Finish removes the bar from the terminal.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.bar.Finish()
}
