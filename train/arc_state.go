package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/tinyrecursion/trm/augment"
)

// arcState is an ARC evaluator's accumulated votes in a stable order, so a
// resumed run votes exactly as the uninterrupted one (aggregated voting
// keeps every evaluation's predictions).
type arcState struct {
	Grids []arcStateGrid  `json:"grids"`
	Votes []arcStateVotes `json:"votes"`
}

type arcStateGrid struct {
	Hash  string `json:"hash"`
	H     int    `json:"h"`
	W     int    `json:"w"`
	Cells []byte `json:"cells"`
}

type arcStateVotes struct {
	Task   string    `json:"task"`
	Input  string    `json:"input"`
	Hashes []string  `json:"hashes"`
	Q      []float64 `json:"q"`
}

func marshalARCStates(arcs []*ARC) []byte {
	states := make([]arcState, len(arcs))
	for i, a := range arcs {
		s := &states[i]
		for h, g := range a.hmap {
			s.Grids = append(s.Grids, arcStateGrid{hex.EncodeToString(h[:]), g.H, g.W, g.Cells})
		}
		slices.SortFunc(s.Grids, func(x, y arcStateGrid) int { return compareStrings(x.Hash, y.Hash) })
		for task, byInput := range a.preds {
			for ih, votes := range byInput {
				v := arcStateVotes{Task: task, Input: hex.EncodeToString(ih[:])}
				for _, x := range votes {
					v.Hashes = append(v.Hashes, hex.EncodeToString(x.hash[:]))
					v.Q = append(v.Q, x.q)
				}
				s.Votes = append(s.Votes, v)
			}
		}
		slices.SortFunc(s.Votes, func(x, y arcStateVotes) int {
			if c := compareStrings(x.Task, y.Task); c != 0 {
				return c
			}
			return compareStrings(x.Input, y.Input)
		})
	}
	b, err := json.Marshal(states)
	if err != nil {
		panic(err) // finite floats, strings and bytes only
	}
	return b
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// unmarshalARCStates replaces the votes of arcs with those of a state
// written by marshalARCStates.
func unmarshalARCStates(data []byte, arcs []*ARC) error {
	for _, a := range arcs {
		a.reset()
	}
	return addARCStates(data, arcs)
}

// mergeARCs returns evaluators like ranks[0] holding the votes of every
// rank's evaluators one rank after another: the reference's vote over
// ranks in rank order, each rank's votes in its own order.
func mergeARCs(ranks [][]*ARC) []*ARC {
	merged := emptyCopies(ranks[0], 1)[0]
	for _, arcs := range ranks {
		for i, a := range arcs {
			merged[i].appendVotes(a)
		}
	}
	return merged
}

// appendVotes adds b's votes after a's.
func (a *ARC) appendVotes(b *ARC) {
	maps.Copy(a.hmap, b.hmap) // a hash names one grid
	for task, byInput := range b.preds {
		dst := a.preds[task]
		if dst == nil {
			dst = map[[sha256.Size]byte][]vote{}
			a.preds[task] = dst
		}
		for ih, votes := range byInput {
			dst[ih] = append(dst[ih], votes...)
		}
	}
}

// emptyCopies returns n sets of evaluators like arcs, without votes.
func emptyCopies(arcs []*ARC, n int) [][]*ARC {
	out := make([][]*ARC, n)
	for r := range out {
		out[r] = make([]*ARC, len(arcs))
		for i, a := range arcs {
			c := *a
			c.reset()
			out[r][i] = &c
		}
	}
	return out
}

// addARCStates appends the votes of a marshalARCStates state to arcs.
func addARCStates(data []byte, arcs []*ARC) error {
	var states []arcState
	if err := json.Unmarshal(data, &states); err != nil {
		return err
	}
	if len(states) != len(arcs) {
		return fmt.Errorf("%d evaluator states for %d ARC evaluators", len(states), len(arcs))
	}
	parse := func(s string) ([sha256.Size]byte, error) {
		var h [sha256.Size]byte
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != len(h) {
			return h, fmt.Errorf("bad hash %q", s)
		}
		copy(h[:], b)
		return h, nil
	}
	for i, a := range arcs {
		for _, g := range states[i].Grids {
			h, err := parse(g.Hash)
			if err != nil {
				return err
			}
			const side = augment.ARCCanvas
			if g.H < 0 || g.H > side || g.W < 0 || g.W > side || len(g.Cells) != g.H*g.W {
				return fmt.Errorf("grid %s: %d cells for %dx%d (at most %dx%d)", g.Hash, len(g.Cells), g.H, g.W, side, side)
			}
			gr := grid{g.H, g.W, g.Cells}
			if gr.hash() != h {
				return fmt.Errorf("grid %s: its cells hash to %x", g.Hash, gr.hash())
			}
			if c := slices.IndexFunc(g.Cells, func(c byte) bool { return c > 9 }); c >= 0 {
				return fmt.Errorf("grid %s: colour %d is not 0..9", g.Hash, g.Cells[c])
			}
			a.hmap[h] = gr
		}
		for _, v := range states[i].Votes {
			ih, err := parse(v.Input)
			if err != nil {
				return err
			}
			if len(v.Hashes) != len(v.Q) {
				return fmt.Errorf("task %s: %d hashes, %d q values", v.Task, len(v.Hashes), len(v.Q))
			}
			byInput := a.preds[v.Task]
			if byInput == nil {
				byInput = map[[sha256.Size]byte][]vote{}
				a.preds[v.Task] = byInput
			}
			for j, hs := range v.Hashes {
				h, err := parse(hs)
				if err != nil {
					return err
				}
				if _, ok := a.hmap[h]; !ok {
					return fmt.Errorf("task %s: a vote for grid %s, which the state does not hold", v.Task, hs)
				}
				byInput[ih] = append(byInput[ih], vote{h, v.Q[j]})
			}
		}
	}
	return nil
}
