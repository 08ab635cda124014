package loader

import (
	"encoding/json"
	"fmt"

	"github.com/tinyrecursion/trm/nprand"
)

// StateVersion is the version of State's layout.
const StateVersion = 1

// State is a loader's position after the last batch Next returned: enough
// to continue with exactly the batches an uninterrupted loader would have
// produced. It is per rank, small (a few kilobytes with the legacy RNG) and
// serialises with encoding/json or gob. The configuration fields identify
// the run; Restore refuses a state from a different one.
type State struct {
	Version     int    `json:"version"`
	Sampler     string `json:"sampler"`
	Rank        int    `json:"rank"`
	WorldSize   int    `json:"world_size"`
	GlobalBatch int    `json:"global_batch"`
	Seed        int64  `json:"seed"`
	ShardLocal  bool   `json:"shard_local"`

	Batches int64 `json:"batches"` // batches returned so far
	Pass    int   `json:"pass"`    // 0-based pass in progress
	Part    int   `json:"part"`    // set being iterated within the pass
	InPart  int64 `json:"in_part"` // batches of that set returned in this pass
	Open    bool  `json:"open"`    // the set's order has been drawn
	Iters   int64 `json:"iters"`   // the reference's _iters (Philox seed = seed + iters)
	Start   int64 `json:"start"`   // next position in the group order (train) or example order
	Epochs  int   `json:"epochs"`  // permutations in the current group order (train)

	Philox *nprand.PhiloxState `json:"philox,omitempty"` // group order / puzzle choice stream (train)
	Choice *nprand.State       `json:"choice,omitempty"` // legacy stream of np.random.choice (train)
}

// MarshalBinary encodes s as JSON, so a State can be stored in a checkpoint
// next to the model.
func (s State) MarshalBinary() ([]byte, error) { return json.Marshal(s) }

// UnmarshalBinary decodes what MarshalBinary wrote.
func (s *State) UnmarshalBinary(data []byte) error {
	if err := json.Unmarshal(data, s); err != nil {
		return fmt.Errorf("loader: state: %w", err)
	}
	if s.Version != StateVersion {
		return fmt.Errorf("loader: state version %d, this trm reads %d", s.Version, StateVersion)
	}
	return nil
}
