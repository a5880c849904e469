package main

import (
	"context"
	"encoding/binary"
	"runtime"
	"time"

	"github.com/libp2p/go-libp2p-kad-dht/amino"
	"github.com/libp2p/go-libp2p/core/peer"
)

type provRecord struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

// recordsFor is what the node's provider store holds for mh, with the
// addresses its GET_PROVIDERS handler would send. handleGetProviders sends
// GetProviders' addresses (the provider's current peerstore entry, not just
// what its ADD_PROVIDER carried) through the DHT's AddressFilter, which we
// leave unset, so they go out unchanged.
func (n *node) recordsFor(mh []byte) []provRecord {
	out := []provRecord{}
	d, ok := n.live()
	if !ok {
		return out
	}
	infos, err := d.ProviderStore().GetProviders(context.Background(), mh)
	if err != nil {
		return out
	}
	for _, ai := range infos {
		r := provRecord{ID: ai.ID.String(), Addrs: make([]string, len(ai.Addrs))}
		for i, a := range ai.Addrs {
			r.Addrs[i] = a.String()
		}
		out = append(out, r)
	}
	return out
}

type nodeRecords struct {
	Local   int          `json:"local"`
	Records []provRecord `json:"records"`
}

func (f *fleet) providers(mh []byte) []nodeRecords {
	ns := f.snapshot()
	per := make([][]provRecord, len(ns))
	forEachBounded(len(ns), runtime.GOMAXPROCS(0), func(i int) {
		if ns[i] != nil {
			per[i] = ns[i].recordsFor(mh)
		}
	})
	out := []nodeRecords{}
	for i, recs := range per {
		if len(recs) > 0 {
			out = append(out, nodeRecords{Local: i, Records: recs})
		}
	}
	return out
}

type recordPair struct {
	key, local int
}

func (f *fleet) records(mhs [][]byte, pairs []recordPair) [][]provRecord {
	ns := f.snapshot()
	out := make([][]provRecord, len(pairs))
	forEachBounded(len(pairs), runtime.GOMAXPROCS(0), func(i int) {
		p := pairs[i]
		if n := ns[p.local]; n != nil {
			out[i] = n.recordsFor(mhs[p.key])
		} else {
			out[i] = []provRecord{}
		}
	})
	return out
}

// holders answers, for each multihash, which live nodes hold a provider
// record for it (from provider only, if given). Each node's records are read
// straight from its recordStore in one pass over the smaller of the node's
// keys and the request, then the few records kad-dht may still be buffering
// are checked through GetProviders (see unflushed).
func (f *fleet) holders(mhs [][]byte, provider peer.ID) [][]int {
	want := make(map[string]int, len(mhs))
	dupOf := make([]int, len(mhs)) // index of the first identical request
	for i, mh := range mhs {
		s := seg(mh)
		if first, seen := want[s]; seen {
			dupOf[i] = first
			continue
		}
		want[s] = i
		dupOf[i] = i
	}
	only := ""
	if provider != "" {
		only = seg([]byte(provider))
	}

	ns := f.snapshot()
	hits := make([][]int, len(ns))
	forEachBounded(len(ns), runtime.GOMAXPROCS(0), func(i int) {
		if ns[i] != nil {
			hits[i] = ns[i].holding(mhs, want, only)
		}
	})

	out := make([][]int, len(mhs))
	for local, hs := range hits { // ascending, so each list comes out sorted
		for _, k := range hs {
			out[k] = append(out[k], local)
		}
	}
	for i := range out {
		if dupOf[i] != i {
			out[i] = out[dupOf[i]]
		}
		if out[i] == nil {
			out[i] = []int{}
		}
	}
	return out
}

// holding returns the request indices (into mhs, via want) this node holds.
func (n *node) holding(mhs [][]byte, want map[string]int, only string) []int {
	d, ok := n.live()
	if !ok {
		return nil
	}
	cutoff := time.Now().Add(-amino.DefaultProvideValidity).UnixNano()
	fresh := func(v []byte) bool {
		t, k := binary.Varint(v)
		return k > 0 && t >= cutoff
	}
	holds := func(set *provSet) bool {
		if only != "" {
			v, ok := set.get(only)
			return ok && fresh(v.bytes())
		}
		found := false
		set.each(func(_ string, v []byte) bool {
			found = fresh(v)
			return !found
		})
		return found
	}

	var hits []int
	if n.store.numMultihashes() < len(want) {
		n.store.forEachMultihash(func(mh string, set *provSet) {
			if k, ok := want[mh]; ok && holds(set) {
				hits = append(hits, k)
			}
		})
	} else {
		for mh, k := range want {
			n.store.lookupMultihash(mh, func(set *provSet) {
				if holds(set) {
					hits = append(hits, k)
				}
			})
		}
	}

	notes := n.notes.matching(want, only)
	if len(notes) == 0 {
		return hits
	}
	got := make(map[int]bool, len(hits))
	for _, k := range hits {
		got[k] = true
	}
	for _, nt := range notes {
		k := want[nt.mhSeg]
		if got[k] {
			continue
		}
		infos, err := d.ProviderStore().GetProviders(context.Background(), mhs[k])
		if err != nil {
			continue
		}
		found := false
		for _, ai := range infos {
			if seg([]byte(ai.ID)) == nt.peerSeg {
				found = true
				break
			}
		}
		if found {
			got[k] = true
			hits = append(hits, k)
		} else {
			n.notes.forget(nt)
		}
	}
	return hits
}
