package pipeline

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Ordered runs the three stages every builder has: next reads inputs one by
// one (a CSV row, an ARC task), work transforms each on `workers`
// goroutines (augment, encode), and emit consumes the results strictly in
// input order (the shard writer). At most 2*workers inputs are in flight,
// so memory is bounded whatever the input size. Because work sees only its
// input and its index, the output never depends on the worker count.
// The first error, or ctx's cancellation, stops all three stages.
func Ordered[In, Out any](ctx context.Context, workers int, next func() (In, bool, error), work func(index int, in In) (Out, error), emit func(index int, out Out) error) error {
	workers = max(1, workers)
	window := 2 * workers
	type job struct {
		index int
		in    In
	}
	type result struct {
		index int
		out   Out
	}
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan job, window)
	results := make(chan result, window)
	slots := make(chan struct{}, window) // released when a result is emitted

	g.Go(func() error {
		defer close(jobs)
		for i := 0; ; i++ {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			in, ok, err := next()
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			select {
			case jobs <- job{i, in}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	// Workers run in g, so the first failure cancels ctx at once; results
	// closes when the last worker has returned.
	var running sync.WaitGroup
	for range workers {
		running.Add(1)
		g.Go(func() error {
			defer running.Done()
			for j := range jobs {
				out, err := work(j.index, j.in)
				if err != nil {
					return err
				}
				select {
				case results <- result{j.index, out}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}
	go func() {
		running.Wait()
		close(results)
	}()
	g.Go(func() error {
		pending := map[int]Out{}
		nextIndex := 0
		for r := range results {
			pending[r.index] = r.out
			for {
				out, ok := pending[nextIndex]
				if !ok {
					break
				}
				delete(pending, nextIndex)
				if err := emit(nextIndex, out); err != nil {
					return err
				}
				nextIndex++
				<-slots
			}
		}
		return ctx.Err()
	})
	return g.Wait()
}
