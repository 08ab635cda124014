package train

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tinyrecursion/trm/model"
)

// EvalOutputKeys are the tensors eval_save_outputs may name: the batch's
// inputs, labels (-100 where ignored) and puzzle identifiers, and the
// model's final-step logits, predictions and halting logits, as the
// reference's return_keys.
var EvalOutputKeys = []string{"inputs", "labels", "puzzle_identifiers", "logits", "preds", "q_halt_logits", "q_continue_logits"}

// outputsWriter saves the tensors eval_save_outputs names from every
// evaluation batch into one safetensors file, concatenated along the rows
// as the reference concatenates them before its torch.save (padding rows of
// the last batch included). Each tensor streams through its own temporary
// file beside the output, so an evaluation's logits need not fit in
// memory; the file appears, complete, only on commit.
type outputsWriter struct {
	path          string
	keys          []string
	parts         []*os.File
	rows          int
	seqLen, vocab int
	buf           []byte
}

// newOutputsWriter prepares path for the given keys (checked by
// Config.Validate) of batches of seqLen tokens over vocab.
func newOutputsWriter(path string, keys []string, seqLen, vocab int) (*outputsWriter, error) {
	w := &outputsWriter{path: path, keys: keys, seqLen: seqLen, vocab: vocab}
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
	}
	return w, nil
}

// add appends one batch: its rows and the final ACT step's outputs.
func (w *outputsWriter) add(b *model.Batch, out *model.StepOutput[float32]) error {
	for i, k := range w.keys {
		w.buf = w.buf[:0]
		switch k {
		case "inputs":
			w.buf = appendI32(w.buf, b.Inputs)
		case "labels":
			w.buf = appendI32(w.buf, b.Labels)
		case "puzzle_identifiers":
			w.buf = appendI32(w.buf, b.PuzzleIdentifiers)
		case "preds":
			w.buf = appendI32(w.buf, out.Preds)
		case "logits":
			w.buf = appendF32(w.buf, out.Logits)
		case "q_halt_logits":
			w.buf = appendF32(w.buf, out.QHalt)
		case "q_continue_logits":
			w.buf = appendF32(w.buf, out.QContinue)
		}
		if _, err := w.parts[i].Write(w.buf); err != nil {
			return fmt.Errorf("eval_save_outputs %s: %w", k, err)
		}
	}
	w.rows += len(b.PuzzleIdentifiers)
	return nil
}

// shape and dtype of key's tensor over all rows.
func (w *outputsWriter) shape(key string) (string, []int) {
	switch key {
	case "inputs", "labels", "preds":
		return "I32", []int{w.rows, w.seqLen}
	case "puzzle_identifiers":
		return "I32", []int{w.rows}
	case "logits":
		return "F32", []int{w.rows, w.seqLen, w.vocab}
	default: // q_halt_logits, q_continue_logits
		return "F32", []int{w.rows}
	}
}

// commit writes the safetensors file (header, then each tensor's bytes)
// through a temporary file renamed into place, and removes the parts.
func (w *outputsWriter) commit() (err error) {
	defer w.abort()
	var layout []stLayout
	for i, k := range w.keys {
		dtype, shape := w.shape(k)
		size, err := w.parts[i].Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		if want := int64(4 * product(shape)); size != want {
			return fmt.Errorf("eval_save_outputs %s: %d bytes written, %d expected for %v", k, size, want, shape)
		}
		layout = append(layout, stLayout{k, dtype, shape, size})
	}
	f, err := os.CreateTemp(filepath.Dir(w.path), "."+filepath.Base(w.path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(safetensorsHeader(layout, nil)); err != nil {
		return err
	}
	for _, p := range w.parts {
		if _, err = p.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if _, err = io.Copy(f, p); err != nil {
			return err
		}
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, w.path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(w.path))
}

func product(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
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
