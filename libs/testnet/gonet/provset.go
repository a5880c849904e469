package main

import "encoding/binary"

// provVal holds a provider record's value inline: kad-dht writes a varint
// time, at most 10 bytes, and a separate allocation per record would cost
// more than the record.
type provVal struct {
	b [binary.MaxVarintLen64]byte
	n uint8
}

func makeProvVal(v []byte) (provVal, bool) {
	var pv provVal
	if len(v) > len(pv.b) {
		return pv, false
	}
	pv.n = uint8(copy(pv.b[:], v))
	return pv, true
}

func (v *provVal) bytes() []byte { return v.b[:v.n] }

// provSet is the providers of one multihash. Almost every key has exactly
// one provider (sweep announces one peer), so the first lives inline and
// only further ones get a map: a map per key would be most of the memory.
type provSet struct {
	peer string // "" when the inline slot is empty
	val  provVal
	more map[string]provVal
}

func (s *provSet) empty() bool { return s.peer == "" && len(s.more) == 0 }

func (s *provSet) get(peer string) (provVal, bool) {
	if s.peer == peer && peer != "" {
		return s.val, true
	}
	v, ok := s.more[peer]
	return v, ok
}

func (s *provSet) put(peer string, v provVal) {
	switch {
	case s.peer == peer:
		s.val = v
	case s.peer == "" && len(s.more) == 0:
		s.peer, s.val = peer, v
	default:
		if s.more == nil {
			s.more = map[string]provVal{}
		}
		s.more[peer] = v
	}
}

func (s *provSet) del(peer string) {
	if s.peer == peer {
		s.peer, s.val = "", provVal{}
		for p, v := range s.more { // refill the inline slot
			s.peer, s.val = p, v
			delete(s.more, p)
			break
		}
		return
	}
	delete(s.more, peer)
}

// each calls fn for every provider until fn returns false.
func (s *provSet) each(fn func(peer string, v []byte) bool) {
	if s.peer != "" && !fn(s.peer, s.val.bytes()) {
		return
	}
	for p, v := range s.more {
		if !fn(p, v.bytes()) {
			return
		}
	}
}
