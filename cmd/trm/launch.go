package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// launchGrace is how long the other ranks of a job get to notice that one
// failed (its connections close) and exit on their own before they are
// killed.
const launchGrace = 30 * time.Second

// launchJob runs n copies of this command line as the ranks of one job on
// this machine, as torchrun --nproc-per-node does: each child gets RANK,
// WORLD_SIZE, LOCAL_RANK and a free MASTER_PORT on 127.0.0.1, and the
// launcher waits for all of them. Ctrl-C in a terminal reaches the children
// directly; a signal sent to the launcher alone is passed on to them.
func launchJob(ctx context.Context, n int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("finding a free port for the job: %w", err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, n)
	procs := make([]*os.Process, 0, n)
	for r := range n {
		cmd := exec.Command(exe, os.Args[1:]...)
		cmd.Env = append(os.Environ(), "WORLD_SIZE="+strconv.Itoa(n), "RANK="+strconv.Itoa(r), "LOCAL_RANK="+strconv.Itoa(r),
			"LOCAL_WORLD_SIZE="+strconv.Itoa(n), "MASTER_ADDR=127.0.0.1", "MASTER_PORT="+port)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			for _, p := range procs {
				p.Kill()
			}
			return fmt.Errorf("starting rank %d: %w", r, err)
		}
		procs = append(procs, cmd.Process)
		go func() { exits <- exit{r, cmd.Wait()} }()
	}
	var first *exit
	var grace <-chan time.Time
	interrupted := ctx.Done()
	for running := n; running > 0; {
		select {
		case e := <-exits:
			running--
			if e.err != nil && first == nil {
				first = &e
				grace = time.After(launchGrace)
			}
		case <-interrupted:
			for _, p := range procs {
				p.Signal(os.Interrupt)
			}
			interrupted = nil
		case <-grace:
			for _, p := range procs {
				p.Kill() // the exited ones refuse, harmlessly
			}
			grace = nil
		}
	}
	if first == nil {
		return nil
	}
	var exitErr *exec.ExitError
	if ctx.Err() != nil && errors.As(first.err, &exitErr) && exitErr.ExitCode() == exitInterrupted {
		return ctx.Err()
	}
	return fmt.Errorf("rank %d of the job: %w", first.rank, first.err)
}
