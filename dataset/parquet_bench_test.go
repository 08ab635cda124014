package dataset

import (
	"bufio"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pq "github.com/parquet-go/parquet-go"
	pqzstd "github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/tinyrecursion/trm/internal/procstat"
)

// The benchmarks below chose the shard writer (DESIGN.md asks to pick the
// faster of pqarrow and parquet-go by measurement). Both write the same
// schema, codec (zstd fastest) and row-group size, from the same rows:
//
//	go test ./dataset -run XXX -bench 'ShardWriter' -benchtime 3x
//
// The pqarrow numbers go through the real Writer (sharding, hashing, footer
// metadata included); PqarrowBare is pqarrow alone; ParquetGo is
// parquet-go's untyped Row path (seq_len is only known at run time, so its
// typed GenericWriter[T] cannot serve), converting the same columnar batches
// into rows inside the timed loop, as the writer would have to.

const benchRows = 200_000

// benchShapes are the two row shapes measured: Sudoku (81 tokens, dense)
// and ARC (900 tokens, a small grid on a PAD canvas).
var benchShapes = []struct {
	name   string
	seqLen int
}{{"sudoku81", 81}, {"arc900", 900}}

// benchRowsOf makes benchRows rows of seqLen tokens in groups of 1000: for
// 81, random Sudoku-like digits; for 900, a random 10x10 grid of colours on
// the 30x30 PAD canvas.
func benchRowsOf(seqLen int) []*Group {
	rng := rand.New(rand.NewPCG(1, 1))
	var groups []*Group
	for range benchRows / 1000 {
		g := &Group{}
		for p := range 1000 {
			for k := range seqLen {
				if seqLen == 81 {
					g.Inputs = append(g.Inputs, byte(1+rng.IntN(10)*rng.IntN(2)))
					g.Labels = append(g.Labels, byte(2+rng.IntN(9)))
				} else if k/30 < 10 && k%30 < 10 {
					g.Inputs = append(g.Inputs, byte(2+rng.IntN(10)))
					g.Labels = append(g.Labels, byte(2+rng.IntN(10)))
				} else {
					g.Inputs = append(g.Inputs, 0)
					g.Labels = append(g.Labels, 0)
				}
			}
			g.AddPuzzle(1, 0, "d123456789|t0|r012345678|c"+string(rune('0'+p%10)))
		}
		groups = append(groups, g)
	}
	return groups
}

func BenchmarkShardWriterPqarrow(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			groups := benchRowsOf(shape.seqLen)
			side := map[int]int{81: 9, 900: 30}[shape.seqLen]
			b.SetBytes(int64(benchRows * 2 * shape.seqLen))
			b.ResetTimer()
			cpu0 := procstat.CPUTime()
			for range b.N {
				w, err := Create(filepath.Join(b.TempDir(), "ds"), Options{Workers: 2})
				if err != nil {
					b.Fatal(err)
				}
				s, _ := w.CreateSplit(SplitSpec{Name: "train", VocabSize: 12, GridShape: [2]int{side, side}})
				for _, g := range groups {
					if err := s.WriteGroup(g); err != nil {
						b.Fatal(err)
					}
				}
				st := s.Stats()
				if err := s.Close(Metadata{VocabSize: 12, SeqLen: shape.seqLen, NumPuzzleIdentifiers: 1, TotalGroups: int(st.Groups), TotalPuzzles: int(st.Groups), MeanPuzzleExamples: 1, Sets: []string{"all"}}); err != nil {
					b.Fatal(err)
				}
				if err := w.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric((procstat.CPUTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// flatBatches concatenates the groups into row-group-sized column batches.
func flatBatches(groups []*Group, seqLen int) []rowBatch {
	batch := int(DefaultRowGroupBytes) / (2 * seqLen)
	var all rowBatch
	for gi, g := range groups {
		all.inputs = append(all.inputs, g.Inputs...)
		all.labels = append(all.labels, g.Labels...)
		for p := range g.PuzzleSizes {
			all.identifiers = append(all.identifiers, 0)
			all.puzzles = append(all.puzzles, int32(len(all.puzzles)))
			all.groups = append(all.groups, int32(gi))
			all.augs = append(all.augs, g.Augs[p])
		}
	}
	var out []rowBatch
	for start := 0; start < len(all.puzzles); start += batch {
		end := min(len(all.puzzles), start+batch)
		out = append(out, rowBatch{inputs: all.inputs[start*seqLen : end*seqLen], labels: all.labels[start*seqLen : end*seqLen],
			identifiers: all.identifiers[start:end], puzzles: all.puzzles[start:end], groups: all.groups[start:end], augs: all.augs[start:end]})
	}
	return out
}

// benchFile creates a file hashed while written, as the Writer does.
func benchFile(b *testing.B) (*os.File, *bufio.Writer) {
	f, err := os.Create(filepath.Join(b.TempDir(), "part.parquet"))
	if err != nil {
		b.Fatal(err)
	}
	return f, bufio.NewWriterSize(io.MultiWriter(f, sha256.New()), 1<<20)
}

func closeBenchFile(b *testing.B, f *os.File, buf *bufio.Writer) {
	if err := buf.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

func BenchmarkShardWriterPqarrowBare(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			batches := flatBatches(benchRowsOf(shape.seqLen), shape.seqLen)
			schema := Schema(shape.seqLen)
			b.SetBytes(int64(benchRows * 2 * shape.seqLen))
			b.ResetTimer()
			cpu0 := procstat.CPUTime()
			for range b.N {
				f, buf := benchFile(b)
				props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithCompressionLevel(1),
					parquet.WithDictionaryDefault(false), parquet.WithDictionaryFor(ColSet, true), parquet.WithStats(false), parquet.WithMaxRowGroupLength(1<<30))
				fw, err := pqarrow.NewFileWriter(schema, buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
				if err != nil {
					b.Fatal(err)
				}
				for _, part := range batches {
					rec := part.record(schema)
					if err := fw.Write(rec); err != nil {
						b.Fatal(err)
					}
					rec.Release()
				}
				if err := fw.Close(); err != nil {
					b.Fatal(err)
				}
				closeBenchFile(b, f, buf)
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric((procstat.CPUTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

func BenchmarkShardWriterParquetGo(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			batches := flatBatches(benchRowsOf(shape.seqLen), shape.seqLen)
			seq := shape.seqLen
			schema := pq.NewSchema("trm", pq.Group{
				ColInputs:           pq.Leaf(pq.FixedLenByteArrayType(seq)),
				ColLabels:           pq.Leaf(pq.FixedLenByteArrayType(seq)),
				ColPuzzleIdentifier: pq.Int(32),
				ColPuzzle:           pq.Int(32),
				ColGroup:            pq.Int(32),
				ColSet:              pq.Encoded(pq.String(), &pq.RLEDictionary),
				ColAug:              pq.String(),
			})
			// Leaf column indexes in schema order (parquet-go sorts group
			// fields by name).
			index := map[string]int{}
			for i, path := range schema.Columns() {
				index[path[0]] = i
			}
			b.SetBytes(int64(benchRows * 2 * seq))
			b.ResetTimer()
			cpu0 := procstat.CPUTime()
			for range b.N {
				f, buf := benchFile(b)
				w := pq.NewWriter(buf, schema, pq.Compression(&pqzstd.Codec{Level: pqzstd.SpeedFastest}), pq.MaxRowsPerRowGroup(1<<30))
				for _, part := range batches {
					rows := make([]pq.Row, len(part.puzzles))
					for i := range rows {
						row := make(pq.Row, len(index))
						row[index[ColInputs]] = pq.FixedLenByteArrayValue(part.inputs[i*seq:(i+1)*seq]).Level(0, 0, index[ColInputs])
						row[index[ColLabels]] = pq.FixedLenByteArrayValue(part.labels[i*seq:(i+1)*seq]).Level(0, 0, index[ColLabels])
						row[index[ColPuzzleIdentifier]] = pq.Int32Value(part.identifiers[i]).Level(0, 0, index[ColPuzzleIdentifier])
						row[index[ColPuzzle]] = pq.Int32Value(part.puzzles[i]).Level(0, 0, index[ColPuzzle])
						row[index[ColGroup]] = pq.Int32Value(part.groups[i]).Level(0, 0, index[ColGroup])
						row[index[ColSet]] = pq.ByteArrayValue([]byte("all")).Level(0, 0, index[ColSet])
						row[index[ColAug]] = pq.ByteArrayValue([]byte(part.augs[i])).Level(0, 0, index[ColAug])
						rows[i] = row
					}
					if _, err := w.WriteRows(rows); err != nil {
						b.Fatal(err)
					}
					if err := w.Flush(); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				closeBenchFile(b, f, buf)
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric((procstat.CPUTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}
