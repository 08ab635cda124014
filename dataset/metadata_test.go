package dataset

import (
	"math"
	"testing"
)

func TestMarshalReferenceMatchesGolden(t *testing.T) {
	// The example of spec/reference-data.md 1.3 (ARC-1, aug 8, train).
	m := Metadata{IgnoreLabelID: IntPtr(0), VocabSize: 12, SeqLen: 900, NumPuzzleIdentifiers: 8641, TotalGroups: 960,
		MeanPuzzleExamples: 4.154166666666667, TotalPuzzles: 8640, Sets: []string{"all"}}
	want := `{"pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": 12, "seq_len": 900, "num_puzzle_identifiers": 8641, "total_groups": 960, "mean_puzzle_examples": 4.154166666666667, "total_puzzles": 8640, "sets": ["all"]}`
	if got := string(m.MarshalReference()); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	m.IgnoreLabelID = nil
	back, err := ParseMetadata("x", m.MarshalReference())
	if err != nil || back.IgnoreLabelID != nil || back.MeanPuzzleExamples != m.MeanPuzzleExamples {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

func TestPythonFloat(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1.0", 4.154166666666667: "4.154166666666667", 0.1: "0.1", 100: "100.0", 1e16: "1e+16",
		123456789012345678: "1.2345678901234568e+17", 1e15: "1000000000000000.0", 0.0001: "0.0001",
		0.00001: "1e-05", -2.5: "-2.5", 0: "0.0", 1.5e-7: "1.5e-07", math.Inf(1): "Infinity",
	} {
		if got := PythonFloat(f); got != want {
			t.Errorf("PythonFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestParseMetadataErrors(t *testing.T) {
	for name, text := range map[string]string{
		"missing field": `{"pad_id": 0}`,
		"syntax":        "{\n\"pad_id\": 0,,}",
		"vocab":         `{"pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": 300, "seq_len": 81, "num_puzzle_identifiers": 1, "total_groups": 1, "mean_puzzle_examples": 1.0, "total_puzzles": 1, "sets": ["all"]}`,
	} {
		if _, err := ParseMetadata("f.json", []byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := ParseMetadata("f.json", []byte("{\n\"pad_id\": 0,,}"))
	if err == nil || err.Error()[:16] != "f.json: line 2, " {
		t.Errorf("syntax error should name file and line: %v", err)
	}
}
