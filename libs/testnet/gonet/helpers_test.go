package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/proto"
)

const testProto = "/ipfs/kad/1.0.0"

// call runs one request through the same handler the stdio loop uses and
// decodes the JSON the parent would see into out (if non-nil).
func call(t *testing.T, s *server, req map[string]any, out any) {
	t.Helper()
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	o := s.handle(raw)
	if o.err != nil {
		t.Fatalf("%v: %v", req["op"], o.err)
	}
	b, err := json.Marshal(o.result)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%v result %s: %v", req["op"], b, err)
		}
	}
}

// callErr runs a request that must fail and returns its error message.
func callErr(t *testing.T, s *server, req map[string]any) string {
	t.Helper()
	raw, _ := json.Marshal(req)
	o := s.handle(raw)
	if o.err == nil {
		t.Fatalf("%v: expected an error", req)
	}
	return o.err.Error()
}

func randomCID(t *testing.T) cid.Cid {
	t.Helper()
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	h, err := mh.Sum(buf, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// closest returns the n ids of ids closest to key by XOR distance.
func closest(ids []peer.ID, key []byte, n int) map[peer.ID]bool {
	sorted := kb.SortClosestPeers(append([]peer.ID(nil), ids...), kb.ConvertKey(string(key)))
	out := map[peer.ID]bool{}
	for _, p := range sorted[:min(n, len(sorted))] {
		out[p] = true
	}
	return out
}

func testHost(t *testing.T, listen bool) host.Host {
	t.Helper()
	key, err := newIdentity()
	if err != nil {
		t.Fatal(err)
	}
	var h host.Host
	if listen {
		h, err = newHost(key, "/ip4/127.0.0.1/tcp/0")
	} else {
		h, err = newHost(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func addrInfo(t *testing.T, sn startedNode) peer.AddrInfo {
	t.Helper()
	id, err := peer.Decode(sn.PeerID)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ma.NewMultiaddr(sn.Multiaddrs[0])
	if err != nil {
		t.Fatal(err)
	}
	return peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{a}}
}

// kadStream opens a raw kad stream to ai, for tests that need to see the
// wire: timings, resets.
func kadStream(t *testing.T, h host.Host, ai peer.AddrInfo) network.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, ai); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx, ai.ID, protocol.ID(testProto))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeMsg(s network.Stream, m *pb.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return msgio.NewVarintWriter(s).WriteMsg(b)
}

func readMsg(s network.Stream) (*pb.Message, error) {
	r := msgio.NewVarintReaderSize(s, network.MessageSizeMax)
	b, err := r.ReadMsg()
	if err != nil {
		return nil, err
	}
	defer r.ReleaseMsg(b)
	var m pb.Message
	return &m, proto.Unmarshal(b, &m)
}

func addProviderMsg(key []byte, prov peer.ID, addrs ...ma.Multiaddr) *pb.Message {
	m := pb.NewMessage(pb.Message_ADD_PROVIDER, key, 0)
	m.ProviderPeers = pb.RawPeerInfosToPBPeers([]peer.AddrInfo{{ID: prov, Addrs: addrs}})
	return m
}

// eventually polls cond until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
