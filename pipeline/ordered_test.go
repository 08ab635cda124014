package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func counter(n int) func() (int, bool, error) {
	i := 0
	return func() (int, bool, error) {
		if i == n {
			return 0, false, nil
		}
		i++
		return i - 1, true, nil
	}
}

func TestOrderedKeepsOrder(t *testing.T) {
	for _, workers := range []int{1, 2, 7} {
		var got []int
		err := Ordered(context.Background(), workers, counter(500),
			func(i, in int) (int, error) {
				time.Sleep(time.Duration(in%3) * time.Microsecond) // finish out of order
				return in * in, nil
			},
			func(i, out int) error {
				if out != i*i {
					return fmt.Errorf("result %d for index %d", out, i)
				}
				got = append(got, out)
				return nil
			})
		if err != nil || len(got) != 500 {
			t.Fatalf("workers %d: %v, %d results", workers, err, len(got))
		}
	}
}

func TestOrderedStopsOnError(t *testing.T) {
	boom := errors.New("boom")
	for name, c := range map[string]struct {
		next func() (int, bool, error)
		work func(int, int) (int, error)
		emit func(int, int) error
	}{
		"source": {func() (int, bool, error) { return 0, false, boom }, func(i, in int) (int, error) { return in, nil }, func(int, int) error { return nil }},
		"work": {counter(100000), func(i, in int) (int, error) {
			if in == 50 {
				return 0, boom
			}
			return in, nil
		}, func(int, int) error { return nil }},
		"emit": {counter(100000), func(i, in int) (int, error) { return in, nil }, func(i, _ int) error {
			if i == 10 {
				return boom
			}
			return nil
		}},
	} {
		if err := Ordered(context.Background(), 3, c.next, c.work, c.emit); !errors.Is(err, boom) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Ordered(ctx, 2, counter(100000), func(i, in int) (int, error) { return in, nil }, func(int, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}
