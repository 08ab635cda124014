package torchsave

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// The pickle opcodes torch.save's protocol 2 output uses for a state_dict,
// plus the few later-protocol ones newer PyTorch versions may emit.
const (
	opMark          = '('
	opStop          = '.'
	opBinInt        = 'J'
	opBinInt1       = 'K'
	opBinInt2       = 'M'
	opNone          = 'N'
	opBinPersID     = 'Q'
	opReduce        = 'R'
	opBinUnicode    = 'X'
	opEmptyList     = ']'
	opAppend        = 'a'
	opBuild         = 'b'
	opGlobal        = 'c'
	opAppends       = 'e'
	opBinGet        = 'h'
	opLongBinGet    = 'j'
	opEmptyDict     = '}'
	opBinPut        = 'q'
	opLongBinPut    = 'r'
	opSetItem       = 's'
	opTuple         = 't'
	opSetItems      = 'u'
	opEmptyTuple    = ')'
	opBinFloat      = 'G'
	opProto         = 0x80
	opTuple1        = 0x85
	opTuple2        = 0x86
	opTuple3        = 0x87
	opNewTrue       = 0x88
	opNewFalse      = 0x89
	opLong1         = 0x8a
	opShortBinUni   = 0x8c
	opStackGlobal   = 0x93
	opMemoize       = 0x94
	opFrame         = 0x95
	opShortBinBytes = 'C'
)

// Values on the machine's stack besides strings, ints, floats, bools, nil,
// tuples ([]any) and the types of torchsave.go.
type (
	mark   struct{}
	global struct{ module, name string }
	list   struct{ items []any }
	// dict keeps insertion order, as a state_dict's OrderedDict does.
	dict struct {
		keys, values []any
	}
)

func (d *dict) set(k, v any) error {
	switch k.(type) {
	case string, int64:
	default:
		return fmt.Errorf("dictionary key of type %s", describe(k))
	}
	for i, old := range d.keys {
		if old == k {
			d.values[i] = v
			return nil
		}
	}
	d.keys, d.values = append(d.keys, k), append(d.values, v)
	return nil
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case global:
		return v.module + "." + v.name
	case *dict:
		return "dict"
	case *list:
		return "list"
	case []any:
		return "tuple"
	case *tensor:
		return "tensor"
	case *storage:
		return "storage"
	case mark:
		return "mark"
	}
	return fmt.Sprintf("%T", v)
}

// machine interprets a pickle.
type machine struct {
	code  []byte
	pos   int
	stack []any
	memo  map[int64]any
}

var errTruncated = errors.New("truncated")

func (m *machine) take(n int) ([]byte, error) {
	if n < 0 || n > len(m.code)-m.pos {
		return nil, errTruncated
	}
	b := m.code[m.pos : m.pos+n]
	m.pos += n
	return b, nil
}

func (m *machine) line() (string, error) {
	i := bytes.IndexByte(m.code[m.pos:], '\n')
	if i < 0 {
		return "", errTruncated
	}
	s := string(m.code[m.pos : m.pos+i])
	m.pos += i + 1
	return s, nil
}

func (m *machine) push(v any) { m.stack = append(m.stack, v) }

func (m *machine) pop() (any, error) {
	if len(m.stack) == 0 {
		return nil, errors.New("stack underflow")
	}
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	if _, ok := v.(mark); ok {
		return nil, errors.New("unexpected mark")
	}
	return v, nil
}

// popMark returns the items above the topmost mark and removes them and it.
func (m *machine) popMark() ([]any, error) {
	for i := len(m.stack) - 1; i >= 0; i-- {
		if _, ok := m.stack[i].(mark); ok {
			items := append([]any(nil), m.stack[i+1:]...)
			m.stack = m.stack[:i]
			return items, nil
		}
	}
	return nil, errors.New("no mark on the stack")
}

func (m *machine) popN(n int) ([]any, error) {
	items := make([]any, n)
	for i := n - 1; i >= 0; i-- {
		v, err := m.pop()
		if err != nil {
			return nil, err
		}
		items[i] = v
	}
	return items, nil
}

// unpickle runs code and returns the object STOP leaves on the stack.
func unpickle(code []byte) (any, error) {
	m := &machine{code: code, memo: map[int64]any{}}
	for {
		at := m.pos
		op, err := m.take(1)
		if err != nil {
			return nil, fmt.Errorf("pickle ends at byte %d without STOP", at)
		}
		done, err := m.step(op[0])
		if err != nil {
			return nil, fmt.Errorf("pickle byte %d (opcode 0x%02x): %w", at, op[0], err)
		}
		if done {
			if len(m.stack) != 1 {
				return nil, fmt.Errorf("pickle stops with %d values on the stack, want 1", len(m.stack))
			}
			return m.pop()
		}
	}
}

func (m *machine) step(op byte) (done bool, err error) {
	le := binary.LittleEndian
	switch op {
	case opProto:
		_, err = m.take(1)
	case opFrame:
		_, err = m.take(8) // framing only groups the opcodes that follow
	case opStop:
		return true, nil
	case opMark:
		m.push(mark{})
	case opNone:
		m.push(nil)
	case opNewTrue:
		m.push(true)
	case opNewFalse:
		m.push(false)
	case opBinInt:
		var b []byte
		if b, err = m.take(4); err == nil {
			m.push(int64(int32(le.Uint32(b))))
		}
	case opBinInt1:
		var b []byte
		if b, err = m.take(1); err == nil {
			m.push(int64(b[0]))
		}
	case opBinInt2:
		var b []byte
		if b, err = m.take(2); err == nil {
			m.push(int64(le.Uint16(b)))
		}
	case opLong1:
		err = m.long1()
	case opBinFloat:
		var b []byte
		if b, err = m.take(8); err == nil {
			m.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
	case opBinUnicode, opShortBinUni, opShortBinBytes:
		var n int
		if op == opBinUnicode {
			var b []byte
			if b, err = m.take(4); err != nil {
				return false, err
			}
			n = int(le.Uint32(b))
		} else {
			var b []byte
			if b, err = m.take(1); err != nil {
				return false, err
			}
			n = int(b[0])
		}
		var b []byte
		if b, err = m.take(n); err == nil {
			m.push(string(b))
		}
	case opGlobal:
		var mod, name string
		if mod, err = m.line(); err == nil {
			if name, err = m.line(); err == nil {
				m.push(global{mod, name})
			}
		}
	case opStackGlobal:
		var items []any
		if items, err = m.popN(2); err == nil {
			mod, ok1 := items[0].(string)
			name, ok2 := items[1].(string)
			if !ok1 || !ok2 {
				return false, errors.New("STACK_GLOBAL of non-strings")
			}
			m.push(global{mod, name})
		}
	case opEmptyTuple:
		m.push([]any{})
	case opTuple:
		var items []any
		if items, err = m.popMark(); err == nil {
			m.push(items)
		}
	case opTuple1, opTuple2, opTuple3:
		var items []any
		if items, err = m.popN(int(op-opTuple1) + 1); err == nil {
			m.push(items)
		}
	case opEmptyList:
		m.push(&list{})
	case opAppend, opAppends:
		items, top, err := m.operands(1, op == opAppends)
		if err != nil {
			return false, err
		}
		l, ok := top.(*list)
		if !ok {
			return false, fmt.Errorf("APPEND to a %s", describe(top))
		}
		l.items = append(l.items, items...)
		m.push(l)
	case opEmptyDict:
		m.push(&dict{})
	case opSetItem, opSetItems:
		items, top, err := m.operands(2, op == opSetItems)
		if err != nil {
			return false, err
		}
		if len(items)%2 != 0 {
			return false, errors.New("SETITEMS with an odd number of values")
		}
		d, ok := top.(*dict)
		if !ok {
			return false, fmt.Errorf("SETITEM on a %s", describe(top))
		}
		for i := 0; i < len(items); i += 2 {
			if err := d.set(items[i], items[i+1]); err != nil {
				return false, err
			}
		}
		m.push(d)
	case opBinPut, opLongBinPut, opMemoize:
		key := int64(len(m.memo))
		if op != opMemoize {
			if key, err = m.memoKey(op == opLongBinPut); err != nil {
				return false, err
			}
		}
		if len(m.stack) == 0 {
			return false, errors.New("memoizing an empty stack")
		}
		m.memo[key] = m.stack[len(m.stack)-1]
	case opBinGet, opLongBinGet:
		var key int64
		if key, err = m.memoKey(op == opLongBinGet); err != nil {
			return false, err
		}
		v, ok := m.memo[key]
		if !ok {
			return false, fmt.Errorf("memo %d was never stored", key)
		}
		m.push(v)
	case opBinPersID:
		var pid any
		if pid, err = m.pop(); err == nil {
			var s *storage
			if s, err = persistentStorage(pid); err == nil {
				m.push(s)
			}
		}
	case opReduce:
		var items []any
		if items, err = m.popN(2); err != nil {
			return false, err
		}
		args, ok := items[1].([]any)
		if !ok {
			return false, fmt.Errorf("REDUCE with %s arguments", describe(items[1]))
		}
		var v any
		if v, err = call(items[0], args); err == nil {
			m.push(v)
		}
	case opBuild:
		var items []any
		if items, err = m.popN(2); err != nil {
			return false, err
		}
		// A state_dict's BUILD sets its _metadata attribute (module
		// versions), which loading weights does not need.
		if _, ok := items[0].(*dict); !ok {
			return false, fmt.Errorf("BUILD on a %s", describe(items[0]))
		}
		m.push(items[0])
	default:
		return false, fmt.Errorf("opcode not used by torch.save for a state_dict")
	}
	return false, err
}

// operands pops the values an APPEND(S) or SETITEM(S) adds (n of them, or
// all above the mark) and the container beneath them.
func (m *machine) operands(n int, toMark bool) (items []any, container any, err error) {
	if toMark {
		items, err = m.popMark()
	} else {
		items, err = m.popN(n)
	}
	if err != nil {
		return nil, nil, err
	}
	container, err = m.pop()
	return items, container, err
}

// memoKey reads a memo index: one byte, or four when long.
func (m *machine) memoKey(long bool) (int64, error) {
	if !long {
		b, err := m.take(1)
		if err != nil {
			return 0, err
		}
		return int64(b[0]), nil
	}
	b, err := m.take(4)
	if err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint32(b)), nil
}

// long1 pushes a little-endian two's-complement integer of up to 8 bytes.
func (m *machine) long1() error {
	b, err := m.take(1)
	if err != nil {
		return err
	}
	n := int(b[0])
	if n > 8 {
		return fmt.Errorf("integer of %d bytes", n)
	}
	digits, err := m.take(n)
	if err != nil {
		return err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(digits[i])
	}
	if n > 0 && n < 8 && digits[n-1]&0x80 != 0 {
		v |= ^uint64(0) << (8 * n) // sign-extend
	}
	m.push(int64(v))
	return nil
}

// persistentStorage reads torch.save's persistent id of a storage:
// ("storage", <torch.XStorage class>, key, location, numel).
func persistentStorage(pid any) (*storage, error) {
	t, ok := pid.([]any)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("persistent id %v is not a storage reference", pid)
	}
	g, ok := t[1].(global)
	key, ok2 := t[2].(string)
	numel, ok3 := t[4].(int64)
	if !ok || !ok2 || !ok3 || g.module != "torch" || numel < 0 {
		return nil, fmt.Errorf("malformed storage reference %v", t)
	}
	st, ok := storageTypes[g.name]
	if !ok {
		return nil, fmt.Errorf("storage type torch.%s is not supported", g.name)
	}
	if strings.ContainsAny(key, "/\\") || key == "" || key == "." || key == ".." {
		return nil, fmt.Errorf("storage key %q", key)
	}
	return &storage{dtype: st.dtype, size: st.size, key: key, numel: numel}, nil
}

// call applies the only callables a state_dict's pickle names.
func call(fn any, args []any) (any, error) {
	g, ok := fn.(global)
	if !ok {
		return nil, fmt.Errorf("call of a %s", describe(fn))
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return nil, errors.New("OrderedDict with arguments")
		}
		return &dict{}, nil
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor(args)
	case "torch._utils._rebuild_parameter":
		if len(args) != 3 {
			return nil, fmt.Errorf("_rebuild_parameter with %d arguments", len(args))
		}
		if _, ok := args[0].(*tensor); !ok {
			return nil, fmt.Errorf("_rebuild_parameter of a %s", describe(args[0]))
		}
		return args[0], nil
	}
	return nil, fmt.Errorf("%s.%s is not part of a state_dict (trm reads state_dicts of tensors only)", g.module, g.name)
}

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, requires_grad, backward_hooks[, metadata]).
func rebuildTensor(args []any) (*tensor, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(args))
	}
	s, ok := args[0].(*storage)
	offset, ok2 := args[1].(int64)
	size, err1 := ints(args[2])
	stride, err2 := ints(args[3])
	if !ok || !ok2 || err1 != nil || err2 != nil || len(size) != len(stride) || offset < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2(%s, %v, %v, %v): malformed", describe(args[0]), args[1], args[2], args[3])
	}
	return &tensor{storage: s, offset: offset, size: size, stride: stride}, nil
}

// ints reads a tuple of non-negative integers that fit an int.
func ints(v any) ([]int, error) {
	t, ok := v.([]any)
	if !ok {
		return nil, errors.New("not a tuple")
	}
	out := make([]int, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 || n > math.MaxInt32 {
			return nil, fmt.Errorf("element %v", x)
		}
		out[i] = int(n)
	}
	return out, nil
}
