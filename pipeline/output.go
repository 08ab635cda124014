package pipeline

import (
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/tinyrecursion/trm/dataset"
	"github.com/tinyrecursion/trm/internal/version"
)

// Output says where and how a builder writes its dataset; every builder
// command shares these flags.
type Output struct {
	Dir         string
	Force       bool
	Workers     int    // 0: all cores
	ShardMB     int    // token megabytes per shard; 0: dataset.DefaultShardBytes
	Compression string // "": zstd level 1
	Quiet       bool   // no progress bars
}

// WorkerCount resolves Workers = 0 to the number of cores.
func (o Output) WorkerCount() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// Create opens the dataset writer, recording the builder's name, seed and
// configuration in the manifest.
func (o Output) Create(builder string, seed int64, config any) (*dataset.Writer, error) {
	cfg, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	return dataset.Create(o.Dir, dataset.Options{
		Force:       o.Force,
		ShardBytes:  int64(o.ShardMB) << 20,
		Compression: o.Compression,
		Workers:     o.WorkerCount(),
		Builder:     dataset.Builder{Name: builder, Seed: seed, Config: cfg},
		CodeVersion: version.String(),
		Created:     created(),
	})
}

// created is the build time for the manifest. SOURCE_DATE_EPOCH (the
// reproducible-builds convention) pins it, so even manifest.json can be made
// byte-identical across runs; shards never contain the time.
func created() string {
	t := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			t = time.Unix(sec, 0)
		}
	}
	return t.UTC().Format(time.RFC3339)
}
