package main

import (
	"context"
	"encoding/base32"
	"sync"
	"time"

	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// seg encodes bytes the way kad-dht names them in datastore keys.
var seg = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString

func provKey(mhSeg, peerSeg string) string { return provPrefix + mhSeg + "/" + peerSeg }

// unflushed covers the one blind spot of reading the datastore directly:
// kad-dht's ProviderManager buffers new records in memory and writes them to
// the datastore only 256 at a time (batchBufferSize) or on Close, so up to 320
// accepted records per server are invisible there. kad-dht's OnRequestHook
// shows us every request before it is handled; we note each ADD_PROVIDER's
// (key, provider) here and forget it when its datastore write arrives. A noted
// record not yet in the datastore is then checked through the provider
// store's own GetProviders, which does see the buffer, so the hook never
// decides what a server holds, kad-dht does.
type unflushed struct {
	mu sync.Mutex
	m  map[string]time.Time // provider datastore key -> when the request came in
}

func newUnflushed() *unflushed { return &unflushed{m: map[string]time.Time{}} }

// rejectGrace is how long a noted record may stay absent from the provider
// store before we conclude kad-dht refused it and drop the note. It only
// bounds memory; it never hides a record, since it is dropped only after
// GetProviders said no.
const rejectGrace = 10 * time.Second

func (u *unflushed) hook(_ context.Context, s network.Stream, req *pb.Message) {
	if req.GetType() != pb.Message_ADD_PROVIDER || len(req.GetKey()) == 0 {
		return
	}
	from := s.Conn().RemotePeer()
	mhSeg := ""
	now := time.Now()
	for _, p := range req.GetProviderPeers() {
		// Records naming someone other than the sender are always refused
		// (handleAddProvider); skipping them just saves memory.
		if peer.ID(p.GetId()) != from {
			continue
		}
		if mhSeg == "" {
			mhSeg = seg(req.GetKey())
		}
		k := provKey(mhSeg, seg(p.GetId()))
		u.mu.Lock()
		u.m[k] = now
		u.mu.Unlock()
	}
}

// flushed is the recordStore callback: the record is now in the datastore.
func (u *unflushed) flushed(key string) {
	u.mu.Lock()
	delete(u.m, key)
	u.mu.Unlock()
}

type noted struct {
	key, mhSeg, peerSeg string
	seen                time.Time
}

// matching lists noted records whose multihash segment is in want and whose
// provider segment equals only (unless only is empty).
func (u *unflushed) matching(want map[string]int, only string) []noted {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []noted
	for k, t := range u.m {
		mh, p, ok := splitProvKey(k)
		if !ok {
			continue
		}
		if _, hit := want[mh]; !hit || (only != "" && p != only) {
			continue
		}
		out = append(out, noted{key: k, mhSeg: mh, peerSeg: p, seen: t})
	}
	return out
}

// forget drops a note that GetProviders showed was refused, if it is old
// enough that the request cannot still be in flight.
func (u *unflushed) forget(n noted) {
	if time.Since(n.seen) < rejectGrace {
		return
	}
	u.mu.Lock()
	if t, ok := u.m[n.key]; ok && t.Equal(n.seen) {
		delete(u.m, n.key)
	}
	u.mu.Unlock()
}
