package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	Workers  int              // shards checked at once (0: 1)
	Progress func(rows int64) // called after each shard with its rows; may be nil
}

// Verify re-hashes every shard against the manifest and checks the
// invariants of the format: contiguous, monotone puzzle and group indices,
// no group split across shards, tokens below vocab_size, identifiers in
// range, file metadata and dataset.json consistent with the rows. It
// returns the first violation in storage order, naming the file and row.
func Verify(ctx context.Context, ds *Dataset, opts VerifyOptions) error {
	type job struct {
		split *SplitManifest
		meta  Metadata
		shard Shard
	}
	var jobs []job
	for i := range ds.Manifest.Splits {
		s := &ds.Manifest.Splits[i]
		if err := checkSplitTotals(ds, s); err != nil {
			return err
		}
		for _, sh := range s.Shards {
			jobs = append(jobs, job{s, ds.Meta[s.Name], sh})
		}
	}
	errs := make([]error, len(jobs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, opts.Workers))
	for i, j := range jobs {
		g.Go(func() error {
			errs[i] = verifyShard(ctx, ds, j.split, j.meta, j.shard)
			if errs[i] == nil && opts.Progress != nil {
				opts.Progress(j.shard.Rows)
			}
			return ctx.Err()
		})
	}
	cancelErr := g.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return cancelErr
}

// checkSplitTotals compares dataset.json with the manifest's counts.
func checkSplitTotals(ds *Dataset, s *SplitManifest) error {
	m := ds.Meta[s.Name]
	where := fmt.Sprintf("%s/%s/dataset.json", ds.Dir, s.Name)
	if int64(m.TotalGroups) != s.Groups {
		return fmt.Errorf("%s: total_groups %d, but the split has %d groups", where, m.TotalGroups, s.Groups)
	}
	// The reference's Sudoku and Maze builders store the group count as
	// total_puzzles (quirks Q-S2, Q-M2); both values are accepted.
	if int64(m.TotalPuzzles) != s.Puzzles && int64(m.TotalPuzzles) != s.Groups {
		return fmt.Errorf("%s: total_puzzles %d, but the split has %d puzzles", where, m.TotalPuzzles, s.Puzzles)
	}
	if s.Puzzles > 0 {
		mean := float64(s.Rows) / float64(s.Puzzles)
		if math.Abs(mean-m.MeanPuzzleExamples) > 1e-9*mean {
			return fmt.Errorf("%s: mean_puzzle_examples %v, but the split has %d examples in %d puzzles (%v)", where, m.MeanPuzzleExamples, s.Rows, s.Puzzles, mean)
		}
	}
	return nil
}

func verifyShard(ctx context.Context, ds *Dataset, s *SplitManifest, meta Metadata, sh Shard) error {
	path := ds.ShardPath(sh)
	if err := checkFileHash(path, sh.Bytes, sh.SHA256); err != nil {
		return err
	}
	data, err := ReadShard(ctx, path, meta.SeqLen, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	defer data.Release()
	if got := data.KeyValue[KeySplit]; got != s.Name {
		return fmt.Errorf("%s: file metadata says split %q, the manifest %q", path, got, s.Name)
	}
	shape, err := GridShape(data.KeyValue)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if shape != s.GridShape {
		return fmt.Errorf("%s: file metadata grid shape %v, the manifest %v", path, shape, s.GridShape)
	}
	if want := meta.MarshalReference(); data.KeyValue[KeyMetadata] != string(want) {
		return fmt.Errorf("%s: file metadata %s differs from %s/dataset.json", path, KeyMetadata, s.Name)
	}
	rows, err := data.Flatten(meta.SeqLen)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := CheckRows(rows, meta, sh); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func checkFileHash(path string, size int64, sum string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if n != size {
		return fmt.Errorf("%s: %d bytes, the manifest says %d", path, n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("%s: sha256 %s, the manifest says %s (the file is corrupt or was changed)", path, got, sum)
	}
	return nil
}

// CheckRows checks one shard's rows against its manifest entry and the
// split's metadata.
func CheckRows(r *Rows, meta Metadata, sh Shard) error {
	n := r.Len()
	if int64(n) != sh.Rows {
		return fmt.Errorf("%d rows, the manifest says %d", n, sh.Rows)
	}
	if n == 0 {
		return nil
	}
	if int64(r.Groups[0]) != sh.FirstGroup || int64(r.Puzzles[0]) != sh.FirstPuzzle {
		return fmt.Errorf("row 0: group %d puzzle %d, the shard should start at group %d puzzle %d (a group split across shards?)",
			r.Groups[0], r.Puzzles[0], sh.FirstGroup, sh.FirstPuzzle)
	}
	for i := 1; i < n; i++ {
		dg, dp := r.Groups[i]-r.Groups[i-1], r.Puzzles[i]-r.Puzzles[i-1]
		if dg < 0 || dg > 1 || dp < 0 || dp > 1 {
			return fmt.Errorf("row %d: group %d puzzle %d after group %d puzzle %d: indices must be contiguous and monotone",
				i, r.Groups[i], r.Puzzles[i], r.Groups[i-1], r.Puzzles[i-1])
		}
		if dg == 1 && dp == 0 {
			return fmt.Errorf("row %d: puzzle %d spans groups %d and %d", i, r.Puzzles[i], r.Groups[i-1], r.Groups[i])
		}
		if dp == 0 && (r.Identifiers[i] != r.Identifiers[i-1] || r.Augs[i] != r.Augs[i-1]) {
			return fmt.Errorf("row %d: puzzle %d changes identifier or aug within its examples", i, r.Puzzles[i])
		}
	}
	if got := int64(r.Groups[n-1]) - sh.FirstGroup + 1; got != sh.Groups {
		return fmt.Errorf("%d groups, the manifest says %d", got, sh.Groups)
	}
	if got := int64(r.Puzzles[n-1]) - sh.FirstPuzzle + 1; got != sh.Puzzles {
		return fmt.Errorf("%d puzzles, the manifest says %d", got, sh.Puzzles)
	}
	for i, id := range r.Identifiers {
		if id < 0 || int(id) >= meta.NumPuzzleIdentifiers {
			return fmt.Errorf("row %d: puzzle_identifier %d outside [0, %d)", i, id, meta.NumPuzzleIdentifiers)
		}
	}
	for i, s := range r.Sets {
		if !contains(meta.Sets, s) {
			return fmt.Errorf("row %d: set %q is not in dataset.json sets %v", i, s, meta.Sets)
		}
	}
	if err := checkTokens(r.Inputs, meta.VocabSize, meta.SeqLen); err != nil {
		return fmt.Errorf("%s %w", ColInputs, err)
	}
	if err := checkTokens(r.Labels, meta.VocabSize, meta.SeqLen); err != nil {
		return fmt.Errorf("%s %w", ColLabels, err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
