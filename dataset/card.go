package dataset

import (
	"bytes"
	"fmt"
	"text/template"
)

// DatasetCard renders the dataset's README.md: a Hugging Face style YAML
// header (configs, features, splits) so hub tooling understands the layout,
// then provenance and the one-line loads for Python users.
func DatasetCard(m *Manifest, metas []Metadata) []byte {
	type split struct {
		SplitManifest
		Meta Metadata
		H, W int
	}
	var splits []split
	for i, s := range m.Splits {
		splits = append(splits, split{SplitManifest: s, Meta: metas[i], H: s.GridShape[0], W: s.GridShape[1]})
	}
	var b bytes.Buffer
	err := cardTemplate.Execute(&b, map[string]any{"M": m, "Splits": splits})
	if err != nil {
		panic(fmt.Sprintf("dataset card template: %v", err)) // the template is fixed; a failure is a bug
	}
	return b.Bytes()
}

var cardTemplate = template.Must(template.New("card").Parse(`---
configs:
- config_name: default
  data_files:
{{- range .Splits}}
  - split: {{.Name}}
    path: {{.Name}}/*.parquet
{{- end}}
dataset_info:
  features:
  - name: inputs
    dtype: binary
  - name: labels
    dtype: binary
  - name: puzzle_identifier
    dtype: int32
  - name: puzzle
    dtype: int32
  - name: group
    dtype: int32
  - name: set
    dtype: string
  - name: aug
    dtype: string
  splits:
{{- range .Splits}}
  - name: {{.Name}}
    num_examples: {{.Rows}}
{{- end}}
tags:
- trm
- tiny-recursion-models
---

# {{.M.Builder.Name}} dataset (trm format v{{.M.Version}})

Built by ` + "`trm`" + ` ({{.M.CodeVersion}}), builder ` + "`{{.M.Builder.Name}}`" + `, seed {{.M.Builder.Seed}}.
Builder configuration: ` + "`{{printf \"%s\" .M.Builder.Config}}`" + `

| split | examples | puzzles | groups | grid | vocab | shards |
| --- | ---: | ---: | ---: | --- | ---: | ---: |
{{- range .Splits}}
| {{.Name}} | {{.Rows}} | {{.Puzzles}} | {{.Groups}} | {{.H}}x{{.W}} | {{.Meta.VocabSize}} | {{len .Shards}} |
{{- end}}

One row per example, in reference order (group, then puzzle, then example).
` + "`inputs`" + ` and ` + "`labels`" + ` are fixed-size binary columns: one byte per token, the
grid flattened row-major. ` + "`puzzle_identifier`" + ` is the puzzle-embedding id (0 = blank),
` + "`puzzle`" + ` and ` + "`group`" + ` index puzzles and groups within the split, ` + "`aug`" + ` names the
transform applied (empty for originals). Each split's ` + "`dataset.json`" + ` is the reference
trainer's metadata; ` + "`manifest.json`" + ` lists every shard with its sha256
(` + "`trm verify`" + ` checks them).

## Load from Python
{{range .Splits}}
` + "```python" + `
import numpy as np, pyarrow.parquet as pq
t = pq.read_table("{{.Name}}")  # run from the dataset directory
inputs = np.frombuffer(t.column("inputs").combine_chunks().buffers()[1], np.uint8).reshape(-1, {{.H}}, {{.W}})
labels = np.frombuffer(t.column("labels").combine_chunks().buffers()[1], np.uint8).reshape(-1, {{.H}}, {{.W}})
` + "```" + `

PyTorch: ` + "`torch.from_numpy(inputs.copy())`" + `; JAX: ` + "`jax.numpy.asarray(inputs)`" + `.
{{- break}}
{{- end}}

Hugging Face ` + "`datasets`" + `: ` + "`datasets.load_dataset(\"parquet\", data_dir=\".\")`" + `.
DuckDB: ` + "`SELECT \"group\", count(*) FROM 'train/*.parquet' GROUP BY 1`" + `.
For the reference PyTorch trainer's .npy layout: ` + "`trm export npy DATASET OUT`" + `.
`))
