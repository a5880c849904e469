package main

import (
	"context"
	"path"
	"strings"
	"sync"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// Where kad-dht v0.42.2 keeps provider records (records/providers_manager.go):
// one datastore entry per (key, provider) at
//
//	/providers/<base32 raw std, no padding, of the multihash>/<same, of the peer id bytes>
//
// whose value is the signed varint of the write time in Unix nanoseconds. A
// record is served while younger than amino.DefaultProvideValidity (48 h).
const provPrefix = "/providers/"

// recordStore is the in-memory datastore behind each server's provider
// store. ds.MapDatastore would answer every prefix Query by copying and
// filtering the whole map, so each GET_PROVIDERS on a server holding 100k
// records would cost 100k entries, a cost no real (leveldb, pebble) server
// pays. Here provider entries are indexed by multihash, so the query for one
// key touches only that key's providers. It also lets `holders` read every
// record of a node in one pass, and keeps a record to about 100 bytes.
type recordStore struct {
	mu    sync.RWMutex
	provs map[string]provSet // by multihash segment
	peers map[string]string  // interned provider segments: few providers, many records
	other map[string][]byte  // anything else, by full key
	onPut func(key string)   // called with every provider key written, outside mu
}

var _ ds.Batching = (*recordStore)(nil)

func newRecordStore() *recordStore {
	return &recordStore{provs: map[string]provSet{}, peers: map[string]string{}, other: map[string][]byte{}}
}

// splitProvKey returns the two segments of a provider key, or ok=false.
func splitProvKey(k string) (mh, peer string, ok bool) {
	rest, found := strings.CutPrefix(k, provPrefix)
	if !found {
		return "", "", false
	}
	mh, peer, found = strings.Cut(rest, "/")
	if !found || mh == "" || peer == "" || strings.Contains(peer, "/") {
		return "", "", false
	}
	return mh, peer, true
}

func (s *recordStore) Put(_ context.Context, key ds.Key, value []byte) error {
	k := key.String()
	mh, p, isProv := splitProvKey(k)
	pv, fits := makeProvVal(value)
	s.mu.Lock()
	if isProv && fits {
		ip, ok := s.peers[p]
		if !ok {
			ip = strings.Clone(p)
			s.peers[ip] = ip
		}
		set, ok := s.provs[mh]
		if !ok {
			mh = strings.Clone(mh) // don't pin the whole key string
		}
		set.put(ip, pv)
		s.provs[mh] = set
		delete(s.other, k)
	} else {
		if isProv { // an odd value kad-dht never writes: keep it verbatim
			if set, ok := s.provs[mh]; ok {
				set.del(p)
				s.provs[mh] = set
			}
		}
		s.other[k] = append([]byte(nil), value...)
	}
	s.mu.Unlock()
	if isProv && s.onPut != nil {
		s.onPut(k)
	}
	return nil
}

func (s *recordStore) Get(_ context.Context, key ds.Key) ([]byte, error) {
	k := key.String()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if mh, p, isProv := splitProvKey(k); isProv {
		set := s.provs[mh]
		if v, ok := set.get(p); ok {
			return append([]byte(nil), v.bytes()...), nil
		}
	}
	if v, ok := s.other[k]; ok {
		return append([]byte(nil), v...), nil
	}
	return nil, ds.ErrNotFound
}

func (s *recordStore) Has(ctx context.Context, key ds.Key) (bool, error) {
	_, err := s.Get(ctx, key)
	if err == ds.ErrNotFound {
		return false, nil
	}
	return err == nil, err
}

func (s *recordStore) GetSize(ctx context.Context, key ds.Key) (int, error) {
	v, err := s.Get(ctx, key)
	if err != nil {
		return -1, err
	}
	return len(v), nil
}

func (s *recordStore) Delete(_ context.Context, key ds.Key) error {
	k := key.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if mh, p, isProv := splitProvKey(k); isProv {
		if set, ok := s.provs[mh]; ok {
			set.del(p)
			if set.empty() {
				delete(s.provs, mh)
			} else {
				s.provs[mh] = set
			}
		}
	}
	delete(s.other, k)
	return nil
}

// Query narrows the candidates by prefix using the index, then leaves every
// query feature (prefix, filters, orders, offset, limit) to go-datastore's
// naive implementation so semantics match MapDatastore exactly.
func (s *recordStore) Query(_ context.Context, q dsq.Query) (dsq.Results, error) {
	prefix := path.Clean("/" + q.Prefix)
	var entries []dsq.Entry
	add := func(k string, v []byte) {
		e := dsq.Entry{Key: k, Size: len(v)}
		if !q.KeysOnly {
			e.Value = append([]byte(nil), v...)
		}
		entries = append(entries, e)
	}
	addSet := func(mh string, set *provSet) {
		set.each(func(p string, v []byte) bool {
			add(provPrefix+mh+"/"+p, v)
			return true
		})
	}

	s.mu.RLock()
	rest, under := strings.CutPrefix(prefix+"/", provPrefix)
	if under && rest != "" && strings.Count(rest, "/") == 1 {
		mh := strings.TrimSuffix(rest, "/")
		if set, ok := s.provs[mh]; ok {
			addSet(mh, &set)
		}
	} else {
		for mh, set := range s.provs {
			addSet(mh, &set)
		}
	}
	// Keys outside the provider layout are rare (none in a provider-only
	// store), so they are always offered and left to the prefix filter.
	for k, v := range s.other {
		add(k, v)
	}
	s.mu.RUnlock()

	return dsq.NaiveQueryApply(q, dsq.ResultsWithEntries(q, entries)), nil
}

// forEachMultihash calls fn for every multihash's provider set under a read
// lock; fn must not call back into the store.
func (s *recordStore) forEachMultihash(fn func(mh string, set *provSet)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for mh, set := range s.provs {
		fn(mh, &set)
	}
}

// lookupMultihash calls fn with the provider set of one multihash segment
// under a read lock, if there is one.
func (s *recordStore) lookupMultihash(mh string, fn func(set *provSet)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if set, ok := s.provs[mh]; ok {
		fn(&set)
	}
}

func (s *recordStore) numMultihashes() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.provs)
}

func (s *recordStore) Sync(context.Context, ds.Key) error { return nil }
func (s *recordStore) Close() error                       { return nil }

func (s *recordStore) Batch(context.Context) (ds.Batch, error) {
	return ds.NewBasicBatch(s), nil
}
