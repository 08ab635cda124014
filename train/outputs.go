package train

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/tinyrecursion/trm/internal/atomicdir"
	"github.com/tinyrecursion/trm/model"
)

// evalOutput is a tensor eval_save_outputs may name: its dtype, the shape
// of one row, and a batch's rows of it ([]int32 or []float32).
type evalOutput struct {
	name, dtype string
	row         func(seqLen, vocab int) []int
	values      func(b *model.Batch, out *model.StepOutput[float32]) any
}

// evalOutputs are the batch's inputs, labels (-100 where ignored) and
// puzzle identifiers, and the model's final-step logits, predictions and
// halting logits, as the reference's return_keys.
var evalOutputs = []evalOutput{
	{"inputs", "I32", tokenRow, func(b *model.Batch, _ *model.StepOutput[float32]) any { return b.Inputs }},
	{"labels", "I32", tokenRow, func(b *model.Batch, _ *model.StepOutput[float32]) any { return b.Labels }},
	{"puzzle_identifiers", "I32", scalarRow, func(b *model.Batch, _ *model.StepOutput[float32]) any { return b.PuzzleIdentifiers }},
	{"logits", "F32", logitsRow, func(_ *model.Batch, o *model.StepOutput[float32]) any { return o.Logits }},
	{"preds", "I32", tokenRow, func(_ *model.Batch, o *model.StepOutput[float32]) any { return o.Preds }},
	{"q_halt_logits", "F32", scalarRow, func(_ *model.Batch, o *model.StepOutput[float32]) any { return o.QHalt }},
	{"q_continue_logits", "F32", scalarRow, func(_ *model.Batch, o *model.StepOutput[float32]) any { return o.QContinue }},
}

func tokenRow(seqLen, _ int) []int      { return []int{seqLen} }
func logitsRow(seqLen, vocab int) []int { return []int{seqLen, vocab} }
func scalarRow(int, int) []int          { return nil }

// EvalOutputKeys are the names eval_save_outputs accepts.
var EvalOutputKeys = func() []string {
	var names []string
	for _, o := range evalOutputs {
		names = append(names, o.name)
	}
	return names
}()

// outputsWriter saves the tensors eval_save_outputs names from every
// evaluation batch into one safetensors file, concatenated along the rows
// as the reference concatenates them before its torch.save (padding rows of
// the last batch included). Each tensor streams through its own temporary
// file beside the output, so an evaluation's logits need not fit in
// memory; the file appears, complete, only on commit.
type outputsWriter struct {
	path          string
	outputs       []evalOutput
	parts         []*os.File
	rows          int
	seqLen, vocab int
	buf           []byte
}

// newOutputsWriter prepares path for the given keys (checked by
// Config.Validate) of batches of seqLen tokens over vocab.
func newOutputsWriter(path string, keys []string, seqLen, vocab int) (*outputsWriter, error) {
	w := &outputsWriter{path: path, seqLen: seqLen, vocab: vocab}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	for _, k := range keys {
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"."+k+".tmp*")
		if err != nil {
			w.abort()
			return nil, err
		}
		w.parts = append(w.parts, f)
		w.outputs = append(w.outputs, evalOutputs[slices.IndexFunc(evalOutputs, func(o evalOutput) bool { return o.name == k })])
	}
	return w, nil
}

// add appends one batch: its rows and the final ACT step's outputs.
func (w *outputsWriter) add(b *model.Batch, out *model.StepOutput[float32]) error {
	for i, o := range w.outputs {
		switch v := o.values(b, out).(type) {
		case []int32:
			w.buf = appendI32(w.buf[:0], v)
		case []float32:
			w.buf = appendF32(w.buf[:0], v)
		}
		if _, err := w.parts[i].Write(w.buf); err != nil {
			return fmt.Errorf("eval_save_outputs %s: %w", o.name, err)
		}
	}
	w.rows += len(b.PuzzleIdentifiers)
	return nil
}

// commit writes the safetensors file (header, then each tensor's bytes)
// through a temporary file renamed into place, and removes the parts.
func (w *outputsWriter) commit() error {
	defer w.abort()
	var layout []stLayout
	for i, o := range w.outputs {
		shape := append([]int{w.rows}, o.row(w.seqLen, w.vocab)...)
		size, err := w.parts[i].Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		want := int64(4) // bytes of an I32 or F32
		for _, d := range shape {
			want *= int64(d)
		}
		if size != want {
			return fmt.Errorf("eval_save_outputs %s: %d bytes written, %d expected for %v", o.name, size, want, shape)
		}
		layout = append(layout, stLayout{o.name, o.dtype, shape, size})
	}
	return atomicdir.ReplaceFile(w.path, func(f io.Writer) error {
		if _, err := f.Write(safetensorsHeader(layout, nil)); err != nil {
			return err
		}
		for _, p := range w.parts {
			if _, err := p.Seek(0, io.SeekStart); err != nil {
				return err
			}
			if _, err := io.Copy(f, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// abort removes the temporary parts (after commit too: they are copied).
// Best effort: a part that cannot be removed is only a hidden file left.
func (w *outputsWriter) abort() {
	for _, p := range w.parts {
		p.Close()
		os.Remove(p.Name())
	}
	w.parts = nil
}
