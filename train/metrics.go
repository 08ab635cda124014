package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/tinyrecursion/trm/internal/atomicdir"
)

// metricsLog appends one JSON object per line to a run's metrics.jsonl:
// {"step": N, "<key>": value, ...} with keys sorted, so equal runs write
// equal bytes.
type metricsLog struct {
	f *os.File
	w *bufio.Writer
}

// openMetrics opens path for appending. keepUpTo >= 0 first drops the
// records of steps after keepUpTo (written after the checkpoint a run
// resumes from).
func openMetrics(path string, keepUpTo int) (*metricsLog, error) {
	if keepUpTo >= 0 {
		data, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		var kept []byte
		for i, line := range bytes.SplitAfter(data, []byte("\n")) {
			if len(line) == 0 || line[len(line)-1] != '\n' {
				continue // a line cut by the interruption
			}
			var rec struct {
				Step *int `json:"step"`
			}
			if err := json.Unmarshal(line, &rec); err != nil || rec.Step == nil {
				return nil, fmt.Errorf("%s:%d: not a metrics record: %v", path, i+1, err)
			}
			if *rec.Step <= keepUpTo {
				kept = append(kept, line...)
			}
		}
		if err := atomicdir.WriteFileAtomic(path, kept); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &metricsLog{f: f, w: bufio.NewWriter(f)}, nil
}

// Write appends one record and flushes it.
func (l *metricsLog) Write(step int, rec map[string]float64) error {
	keys := make([]string, 0, len(rec))
	for k := range rec {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := []byte(`{"step": `)
	b = strconv.AppendInt(b, int64(step), 10)
	for _, k := range keys {
		b = append(b, ", "...)
		kb, _ := json.Marshal(k)
		b = append(append(b, kb...), ": "...)
		b = appendNumber(b, rec[k])
	}
	b = append(b, "}\n"...)
	if _, err := l.w.Write(b); err != nil {
		return err
	}
	return l.w.Flush()
}

// appendNumber writes v as JSON; NaN and infinities, which JSON lacks, as
// the strings Python's json writes unquoted.
func appendNumber(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func (l *metricsLog) Close() error {
	l.w.Flush()
	return l.f.Close()
}

// ReadMetrics reads a metrics.jsonl file: one map per record, with "step".
func ReadMetrics(path string) ([]map[string]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []map[string]float64
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		rec := map[string]float64{}
		for k, v := range raw {
			switch x := v.(type) {
			case float64:
				rec[k] = x
			case string:
				rec[k], _ = strconv.ParseFloat(x, 64)
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

// formatMetrics is a one-line summary, keys sorted.
func formatMetrics(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteString(" ")
		}
		fmt.Fprintf(&sb, "%s=%.4g", k, m[k])
	}
	return sb.String()
}
