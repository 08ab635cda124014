package train

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"unsafe"

	"github.com/tinyrecursion/trm/model"
)

// exploreStreamSalt is model's stream constant for the ACT exploration
// draws (model/params.go: newStream(seed, streamExplore) with streamExplore
// 2 and the golden-ratio multiplier).
const exploreStreamSalt uint64 = 0x3c6ef372fe94f82a // 2·0x9e3779b97f4a7c15 mod 2^64

// bindExplore replaces the model's exploration stream by an identical PCG
// stream (same seeds, so the draws are unchanged) whose state the trainer
// can save and restore: without it a resumed run would draw different
// exploration decisions. model keeps the stream in an unexported field with
// no accessor, so it is set through reflection; once model exports its
// stream state this bridge should be replaced by that API.
func bindExplore(m *model.Model[float32], seed uint64) (*rand.PCG, error) {
	f := reflect.ValueOf(m).Elem().FieldByName("explore")
	if !f.IsValid() || f.Type() != reflect.TypeOf((*rand.Rand)(nil)) {
		return nil, fmt.Errorf("model no longer has an explore *rand.Rand field; the trainer cannot checkpoint the ACT exploration stream")
	}
	src := rand.NewPCG(seed, exploreStreamSalt)
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(rand.New(src)))
	return src, nil
}
