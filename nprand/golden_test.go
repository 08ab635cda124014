package nprand

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
)

type goldenSample struct {
	Decimal17 string `json:"decimal17"`
	Hex       string `json:"hex"`
}

type goldenSeed struct {
	RawUint32    []uint32       `json:"raw_uint32"`
	RandomSample []goldenSample `json:"random_sample"`

	Randint08         []int64              `json:"randint_0_8"`
	Randint08Draws    uint64               `json:"randint_0_8_raw_draws"`
	Randint08Next     uint32               `json:"randint_0_8_next_raw_after"`
	Permutation9      [][]int              `json:"permutation_9"`
	Permutation9Draws uint64               `json:"permutation_9_raw_draws"`
	Permutation9Next  uint32               `json:"permutation_9_next_raw_after"`
	Randint030        []int64              `json:"randint_0_30"`
	Randint030Draws   uint64               `json:"randint_0_30_raw_draws"`
	Randint030Next    uint32               `json:"randint_0_30_next_raw_after"`
	Shuffle10         []int                `json:"shuffle_range10"`
	Shuffle10Draws    uint64               `json:"shuffle_range10_raw_draws"`
	Shuffle10Next     uint32               `json:"shuffle_range10_next_raw_after"`
	Choice1000        []int                `json:"choice_1000_10_noreplace"`
	Choice1000Draws   uint64               `json:"choice_1000_10_noreplace_raw_draws"`
	Choice1000Next    uint32               `json:"choice_1000_10_noreplace_next_raw_after"`
	ArcAugPlan        [][2]json.RawMessage `json:"arc_aug_plan_x3"`
	ArcAugPlanDraws   uint64               `json:"arc_aug_plan_x3_raw_draws"`
	ArcAugPlanNext    uint32               `json:"arc_aug_plan_x3_next_raw_after"`
}

type goldenPhilox struct {
	State        []uint32  `json:"seedsequence_generate_state_4_uint32"`
	Key          [2]uint64 `json:"philox_key_uint64"`
	Raw          []uint64  `json:"raw_uint64_first4"`
	Permutation  []int     `json:"permutation_20"`
	Integers     []int64   `json:"integers_5_1006_x8"`
	Permutation2 []int     `json:"permutation_960_first10"`
}

type goldenTorch struct {
	ManualSeed uint32    `json:"torch_manual_seed"`
	BaseSeed   uint64    `json:"base_seed"`
	Words      [4]uint32 `json:"worker0_numpy_seed_words"`
	Choice     []int     `json:"np_choice_7_3_noreplace_after_worker_seed"`
}

type goldenFile struct {
	Seeds  map[string]goldenSeed `json:"seeds"`
	Extras struct {
		Randint2pow40 struct {
			Value    int64  `json:"value"`
			RawDraws uint64 `json:"raw_draws"`
		} `json:"randint_0_2pow40_seed0"`
		InitByArray1234 struct {
			Raw []uint32 `json:"raw_uint32"`
		} `json:"init_by_array_1_2_3_4_raw8"`
		InitByArray57 struct {
			Raw []uint32 `json:"raw_uint32"`
		} `json:"init_by_array_5_7_raw8"`
		Philox1  goldenPhilox `json:"philox_seed_1"`
		Philox2  goldenPhilox `json:"philox_seed_2"`
		Philox43 goldenPhilox `json:"philox_seed_43"`
		Torch0   goldenTorch  `json:"torch_worker_seed_0"`
		Torch1   goldenTorch  `json:"torch_worker_seed_1"`
		Torch42  goldenTorch  `json:"torch_worker_seed_42"`
	} `json:"extras"`
}

func loadGolden(t *testing.T) goldenFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/numpy-rng-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("testdata/numpy-rng-golden.json: %v", err)
	}
	if len(g.Seeds) != 3 {
		t.Fatalf("golden file has %d seeds, want 3", len(g.Seeds))
	}
	return g
}

func seedOf(t *testing.T, key string) uint32 {
	t.Helper()
	s, err := strconv.ParseUint(key, 10, 32)
	if err != nil {
		t.Fatalf("seed key %q: %v", key, err)
	}
	return uint32(s)
}

// checkConsumption verifies the number of raw draws a sequence used and the
// raw draw that follows it.
func checkConsumption(t *testing.T, r *RandomState, what string, draws uint64, next uint32) {
	t.Helper()
	if got := r.Draws(); got != draws {
		t.Errorf("%s: consumed %d raw draws, want %d", what, got, draws)
	}
	if got := r.Uint32(); got != next {
		t.Errorf("%s: next raw draw %d, want %d", what, got, next)
	}
}

func TestGoldenRawUint32(t *testing.T) {
	for key, g := range loadGolden(t).Seeds {
		r := New(seedOf(t, key))
		got := make([]uint32, len(g.RawUint32))
		for i := range got {
			got[i] = r.Uint32()
		}
		if !slices.Equal(got, g.RawUint32) {
			t.Errorf("seed %s: raw %v, want %v", key, got, g.RawUint32)
		}
	}
}

func TestGoldenRandomSample(t *testing.T) {
	for key, g := range loadGolden(t).Seeds {
		r := New(seedOf(t, key))
		for i, want := range g.RandomSample {
			got := r.RandomSample()
			wantHex, err := strconv.ParseFloat(want.Hex, 64)
			if err != nil {
				t.Fatal(err)
			}
			wantDec, err := strconv.ParseFloat(want.Decimal17, 64)
			if err != nil {
				t.Fatal(err)
			}
			if math.Float64bits(got) != math.Float64bits(wantHex) || got != wantDec {
				t.Errorf("seed %s sample %d: %v (%x), want %s (%s)", key, i, got, got, want.Decimal17, want.Hex)
			}
		}
		if got, want := r.Draws(), uint64(2*len(g.RandomSample)); got != want {
			t.Errorf("seed %s: random_sample consumed %d draws, want %d", key, got, want)
		}
	}
}

func TestGoldenRandint(t *testing.T) {
	for key, g := range loadGolden(t).Seeds {
		for _, c := range []struct {
			name  string
			high  int64
			want  []int64
			draws uint64
			next  uint32
		}{
			{"randint_0_8", 8, g.Randint08, g.Randint08Draws, g.Randint08Next},
			{"randint_0_30", 30, g.Randint030, g.Randint030Draws, g.Randint030Next},
		} {
			r := New(seedOf(t, key))
			got := make([]int64, len(c.want))
			for i := range got {
				got[i] = r.Randint(0, c.high)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("seed %s %s: %v, want %v", key, c.name, got, c.want)
			}
			checkConsumption(t, r, "seed "+key+" "+c.name, c.draws, c.next)
		}
	}
}

func TestGoldenPermutation(t *testing.T) {
	for key, g := range loadGolden(t).Seeds {
		r := New(seedOf(t, key))
		for i, want := range g.Permutation9 {
			if got := r.Permutation(9); !slices.Equal(got, want) {
				t.Errorf("seed %s permutation %d: %v, want %v", key, i, got, want)
			}
		}
		checkConsumption(t, r, "seed "+key+" permutation_9", g.Permutation9Draws, g.Permutation9Next)
	}
}

func TestGoldenShuffle(t *testing.T) {
	for key, g := range loadGolden(t).Seeds {
		// The same stream through all three shuffle entry points.
		x := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
		r := New(seedOf(t, key))
		ShuffleSlice(r, x)
		if !slices.Equal(x, g.Shuffle10) {
			t.Errorf("seed %s ShuffleSlice: %v, want %v", key, x, g.Shuffle10)
		}
		checkConsumption(t, r, "seed "+key+" shuffle_range10", g.Shuffle10Draws, g.Shuffle10Next)

		y := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
		r = New(seedOf(t, key))
		r.Shuffle(len(y), func(i, j int) { y[i], y[j] = y[j], y[i] })
		if !slices.Equal(y, g.Shuffle10) {
			t.Errorf("seed %s Shuffle: %v, want %v", key, y, g.Shuffle10)
		}

		r = New(seedOf(t, key))
		if p := r.Permutation(10); !slices.Equal(p, g.Shuffle10) {
			t.Errorf("seed %s Permutation(10): %v, want %v", key, p, g.Shuffle10)
		}
	}
}

func TestGoldenChoice(t *testing.T) {
	for key, g := range loadGolden(t).Seeds {
		r := New(seedOf(t, key))
		if got := r.Choice(1000, 10); !slices.Equal(got, g.Choice1000) {
			t.Errorf("seed %s choice: %v, want %v", key, got, g.Choice1000)
		}
		checkConsumption(t, r, "seed "+key+" choice_1000_10", g.Choice1000Draws, g.Choice1000Next)

		scratch := make([]int, 0, 1000)
		r = New(seedOf(t, key))
		if got := r.ChoiceInto(scratch, 1000, 10); !slices.Equal(got, g.Choice1000) {
			t.Errorf("seed %s ChoiceInto: %v, want %v", key, got, g.Choice1000)
		}
	}
}

// TestGoldenArcAugPlan replays the ARC augmentation draw pattern:
// randint(0, 8) then [0] + permutation(np.arange(1, 10)).
func TestGoldenArcAugPlan(t *testing.T) {
	for key, g := range loadGolden(t).Seeds {
		r := New(seedOf(t, key))
		for i, step := range g.ArcAugPlan {
			var wantTrans int64
			var wantMap []uint8
			if err := json.Unmarshal(step[0], &wantTrans); err != nil {
				t.Fatal(err)
			}
			var mapInts []int
			if err := json.Unmarshal(step[1], &mapInts); err != nil {
				t.Fatal(err)
			}
			for _, v := range mapInts {
				wantMap = append(wantMap, uint8(v))
			}
			trans := r.Randint(0, 8)
			colors := []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9}
			ShuffleSlice(r, colors)
			gotMap := append([]uint8{0}, colors...)
			if trans != wantTrans || !slices.Equal(gotMap, wantMap) {
				t.Errorf("seed %s step %d: (%d, %v), want (%d, %v)", key, i, trans, gotMap, wantTrans, wantMap)
			}
		}
		checkConsumption(t, r, "seed "+key+" arc_aug_plan_x3", g.ArcAugPlanDraws, g.ArcAugPlanNext)
	}
}

func TestGoldenExtrasLegacy(t *testing.T) {
	g := loadGolden(t)
	seed0 := g.Seeds["0"].RawUint32

	r := New(0)
	if v := r.Randint(0, 1); v != 0 || r.Draws() != 0 {
		t.Errorf("randint(0, 1) = %d after %d draws, want 0 after 0", v, r.Draws())
	}
	if v := r.Uint32(); v != seed0[0] {
		t.Errorf("after randint(0, 1): next raw %d, want %d", v, seed0[0])
	}

	r = New(0)
	if v := r.Randint(0, 1<<40); v != g.Extras.Randint2pow40.Value || r.Draws() != g.Extras.Randint2pow40.RawDraws {
		t.Errorf("randint(0, 2**40) = %d after %d draws, want %d after %d", v, r.Draws(),
			g.Extras.Randint2pow40.Value, g.Extras.Randint2pow40.RawDraws)
	}

	for _, c := range []struct {
		key  []uint32
		want []uint32
	}{
		{[]uint32{1, 2, 3, 4}, g.Extras.InitByArray1234.Raw},
		{[]uint32{5, 7}, g.Extras.InitByArray57.Raw},
		{[]uint32{0}, seed0[:8]}, // 1-element arrays seed like the integer
	} {
		r, err := NewFromArray(c.key)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]uint32, len(c.want))
		for i := range got {
			got[i] = r.Uint32()
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("seed(array %v): raw %v, want %v", c.key, got, c.want)
		}
	}
	if _, err := NewFromArray(nil); err == nil {
		t.Error("SeedArray(empty) succeeded, want an error")
	}
}

func TestGoldenPhilox(t *testing.T) {
	g := loadGolden(t)
	for _, c := range []struct {
		seed uint64
		want goldenPhilox
	}{{1, g.Extras.Philox1}, {2, g.Extras.Philox2}, {43, g.Extras.Philox43}} {
		if got := SeedSequenceFromInt(c.seed).GenerateState(4); !slices.Equal(got, c.want.State) {
			t.Errorf("seed %d generate_state(4): %v, want %v", c.seed, got, c.want.State)
		}
		p := NewPhilox(c.seed)
		if got := p.State().Key; got != c.want.Key {
			t.Errorf("seed %d key: %v, want %v", c.seed, got, c.want.Key)
		}
		raw := make([]uint64, len(c.want.Raw))
		for i := range raw {
			raw[i] = p.Uint64()
		}
		if !slices.Equal(raw, c.want.Raw) {
			t.Errorf("seed %d raw: %v, want %v", c.seed, raw, c.want.Raw)
		}

		gen := NewGenerator(c.seed)
		if got := gen.Permutation(20); !slices.Equal(got, c.want.Permutation) {
			t.Errorf("seed %d permutation(20): %v, want %v", c.seed, got, c.want.Permutation)
		}
		ints := make([]int64, len(c.want.Integers))
		for i := range ints {
			ints[i] = gen.Integers(5, 1006)
		}
		if !slices.Equal(ints, c.want.Integers) {
			t.Errorf("seed %d integers(5, 1006): %v, want %v", c.seed, ints, c.want.Integers)
		}
		if got := gen.Permutation(960)[:10]; !slices.Equal(got, c.want.Permutation2) {
			t.Errorf("seed %d permutation(960)[:10]: %v, want %v", c.seed, got, c.want.Permutation2)
		}
	}
}

func TestGoldenTorchWorker(t *testing.T) {
	g := loadGolden(t)
	for _, want := range []goldenTorch{g.Extras.Torch0, g.Extras.Torch1, g.Extras.Torch42} {
		base := TorchBaseSeed(want.ManualSeed)
		if base != want.BaseSeed {
			t.Errorf("manual_seed %d: base_seed %d, want %d", want.ManualSeed, base, want.BaseSeed)
		}
		if got := TorchWorkerSeedWords(base, 0); got != want.Words {
			t.Errorf("manual_seed %d: worker words %v, want %v", want.ManualSeed, got, want.Words)
		}
		if got := NewTorchWorker(want.ManualSeed, 0).Choice(7, 3); !slices.Equal(got, want.Choice) {
			t.Errorf("manual_seed %d: choice(7, 3) %v, want %v", want.ManualSeed, got, want.Choice)
		}
	}
}
