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

	"github.com/tinyrecursion/trm/train/dist"
)

// joinJob places this process for a command with --nproc: with nproc > 1
// outside a job it launches the job's processes, which run the command
// (launched: nothing is left to do here); under torchrun's variables it
// joins their job; otherwise it is a single process (nil group). gpu is the
// GPU this process uses with device=cuda (LOCAL_RANK).
func joinJob(ctx context.Context, nproc int) (group *dist.Group, gpu int, launched bool, err error) {
	job, gpu, inJob, err := dist.FromEnv(os.Getenv)
	switch {
	case err != nil:
		return nil, 0, false, err
	case nproc < 1:
		return nil, 0, false, fmt.Errorf("--nproc %d: at least 1 process", nproc)
	case nproc > 1 && !inJob:
		return nil, 0, true, launchJob(ctx, nproc)
	case nproc > 1 && job.WorldSize != nproc:
		return nil, 0, false, fmt.Errorf("--nproc %d inside a job of WORLD_SIZE=%d", nproc, job.WorldSize)
	case !inJob || job.WorldSize == 1:
		return nil, gpu, false, nil
	}
	if job.Rank == 0 && os.Getenv(listenerFDVar) == "3" {
		// Started by launchJob, which holds the port for rank 0.
		f := os.NewFile(3, "rank 0's listener")
		if ln, err := net.FileListener(f); err == nil {
			job.Listener = ln
		}
		f.Close()
	}
	if group, err = dist.Join(ctx, job); err != nil {
		return nil, 0, false, fmt.Errorf("rank %d of %d joining the job at %s: %w", job.Rank, job.WorldSize, job.Addr, err)
	}
	return group, gpu, false, nil
}

// rankError names the rank in a job's error: every rank reports, and
// rank 0's report goes without a prefix.
func rankError(group *dist.Group, err error) error {
	if err != nil && group != nil && group.Rank() > 0 {
		return fmt.Errorf("rank %d: %w", group.Rank(), err)
	}
	return err
}

// listenerFDVar tells rank 0 of a job launchJob started that file
// descriptor 3 is the socket already listening on MASTER_PORT: picking a
// free port and closing it before rank 0 binds it again would race with
// anything else on the machine.
const listenerFDVar = "TRM_LISTENER_FD"

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
	listener, err := ln.(*net.TCPListener).File()
	ln.Close() // the duplicate rank 0 inherits keeps the port
	if err != nil {
		return fmt.Errorf("handing the job's port to rank 0: %w", err)
	}
	defer listener.Close()
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
		if r == 0 {
			cmd.ExtraFiles = []*os.File{listener} // descriptor 3
			cmd.Env = append(cmd.Env, listenerFDVar+"=3")
		}
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
