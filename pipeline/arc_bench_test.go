package pipeline

import (
	"context"
	"github.com/tinyrecursion/trm/dataset"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkARC measures the ARC builder's stages on the concept subset
// (160 tasks, evaluation2 as the test set) with 100 augmentations: planning
// (augmentation trials with puzzle hashing), encoding (canvas, translation)
// and whole builds to Parquet in both modes. The whole builds report
// examples/s and their time relative to the plan+encode work measured in
// the same run, which shows what writing Parquet costs.
func BenchmarkARC(b *testing.B) {
	prefix := arcDataPrefix(b)
	cfg := ARCConfig{InputPrefix: prefix, Subsets: []string{"concept", "evaluation2"}, TestSets: []string{"evaluation2"}, Aug: 100, Seed: 42, IdentifiersStart: 1}
	items, _, err := loadARC(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	var planNs, encodeNs float64
	b.Run("plan", func(b *testing.B) {
		h := &arcHasher{}
		trials := 0
		for b.Loop() {
			for _, it := range items {
				rng := GroupRand(cfg.Seed, "arc/aug/"+it.subset+"/"+it.task.ID, 0)
				it.variants = planARC(it.all(), cfg.Aug, rng.IntN, h.hashAll)
				trials += 1 + len(it.variants)
			}
		}
		planNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(float64(trials)/b.Elapsed().Seconds(), "variants/s")
	})
	b.Run("encode", func(b *testing.B) {
		rows := 0
		var g dataset.Group
		for b.Loop() {
			for _, it := range items {
				rng := GroupRand(cfg.Seed, "arc/translate/"+it.subset+"/"+it.task.ID, 0)
				offsets := drawARCOffsets(nil, it.train, it.variants, true, rng.IntN)
				encodeARCGroup(&g, it.train, it.variants, offsets, 1)
				rows += g.Rows()
			}
		}
		encodeNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "examples/s")
	})
	for _, compat := range []string{"", CompatNumpy} {
		name := "build"
		if compat != "" {
			name += "-" + compat
		}
		b.Run(name, func(b *testing.B) {
			c := cfg
			c.Compat = compat
			dir := filepath.Join(b.TempDir(), "ds")
			var rows int64
			var took time.Duration
			for b.Loop() {
				start := time.Now()
				rep, err := BuildARC(context.Background(), c, Output{Dir: dir, Force: true, Quiet: true})
				if err != nil {
					b.Fatal(err)
				}
				took += time.Since(start)
				for _, st := range rep.Splits {
					rows += st.Rows
				}
			}
			b.ReportMetric(float64(rows)/took.Seconds(), "examples/s")
			if planNs > 0 && encodeNs > 0 {
				b.ReportMetric(float64(took.Nanoseconds())/float64(b.N)/(planNs+encodeNs), "x_plan+encode")
			}
		})
	}
}
