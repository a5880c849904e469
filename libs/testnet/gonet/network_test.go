package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

const numServers = 30

// TestNetwork wires 30 stock servers each to its 20 nearest, publishes
// through kad-dht's own client, and checks every op against what the
// servers must hold. Subtests share the network and run in order.
func TestNetwork(t *testing.T) {
	s := newServer()
	t.Cleanup(func() { s.f.closeAll(closeLimit) })

	var started []startedNode
	call(t, s, map[string]any{"op": "start", "count": numServers, "protocol": testProto}, &started)
	if len(started) != numServers {
		t.Fatalf("started %d", len(started))
	}
	ids := make([]peer.ID, numServers)
	index := map[peer.ID]int{}
	for i, sn := range started {
		ids[i] = addrInfo(t, sn).ID
		index[ids[i]] = i
		if len(sn.Multiaddrs) != 1 || strings.Contains(sn.Multiaddrs[0], "/p2p/") ||
			!strings.HasPrefix(sn.Multiaddrs[0], "/ip4/127.0.0.1/tcp/") {
			t.Fatalf("multiaddrs %v", sn.Multiaddrs)
		}
	}

	t.Run("connect fills routing tables", func(t *testing.T) {
		want := make([]map[peer.ID]bool, numServers)
		var plan []map[string]any
		for i := range ids {
			others := slices.DeleteFunc(slices.Clone(ids), func(p peer.ID) bool { return p == ids[i] })
			want[i] = closest(others, []byte(ids[i]), 20)
			var targets []map[string]any
			for p := range want[i] {
				targets = append(targets, map[string]any{"peerId": p.String(), "multiaddrs": started[index[p]].Multiaddrs})
			}
			plan = append(plan, map[string]any{"local": i, "targets": targets})
		}
		var res struct{ OK, Failed int }
		call(t, s, map[string]any{"op": "connect", "plan": plan, "concurrency": 8}, &res)
		if res.OK != numServers*20 || res.Failed != 0 {
			t.Fatalf("connect: %+v", res)
		}
		var tables []*tableInfo
		call(t, s, map[string]any{"op": "tables"}, &tables)
		for i, tb := range tables {
			if tb == nil {
				t.Fatalf("node %d: null table", i)
			}
			for p := range want[i] {
				if !slices.Contains(tb.Peers, p.String()) {
					t.Errorf("node %d: %s not in routing table", i, p)
				}
			}
			if tb.Connections < 20 {
				t.Errorf("node %d: %d connections", i, tb.Connections)
			}
		}
		t.Logf("routing-table entries kad-dht missed and connect added: %d of %d", s.f.nudged.Load(), numServers*20)
		var sl struct{ Failed int }
		call(t, s, map[string]any{"op": "selfLookup", "concurrency": 16}, &sl)
		if sl.Failed != 0 {
			t.Fatalf("selfLookup failed %d", sl.Failed)
		}
	})

	// A publisher with its own identity, announcing through kad-dht's Provide.
	pubHost := testHost(t, true)
	pub, err := dht.New(pubHost, dhtOptions(testProto, dht.ModeClient, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	cids := []cid.Cid{randomCID(t), randomCID(t), randomCID(t)}
	mhs := make([]string, len(cids))
	for i, c := range cids {
		mhs[i] = base64.StdEncoding.EncodeToString(c.Hash())
	}

	t.Run("Provide reaches the 20 closest, holders and providers see it", func(t *testing.T) {
		for _, i := range []int{0, 10, 20} {
			if err := pubHost.Connect(context.Background(), addrInfo(t, started[i])); err != nil {
				t.Fatal(err)
			}
		}
		if !eventually(5*time.Second, func() bool { return pub.RoutingTable().Size() >= 3 }) {
			t.Fatal("publisher routing table did not fill")
		}
		for _, c := range cids {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			err := pub.Provide(ctx, c, true)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
		// ADD_PROVIDER has no reply, so the last ones may still be in flight.
		var holders [][]int
		ok := eventually(5*time.Second, func() bool {
			call(t, s, map[string]any{"op": "holders", "multihashes": mhs}, &holders)
			for _, h := range holders {
				if len(h) < 20 {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Fatalf("holders %v", holders)
		}
		for k, c := range cids {
			want := closest(ids, c.Hash(), 20)
			for _, local := range holders[k] {
				if !want[ids[local]] {
					t.Errorf("cid %d held by %d, not among the 20 closest", k, local)
				}
			}
		}
		var byProv, byOther [][]int
		call(t, s, map[string]any{"op": "holders", "multihashes": mhs, "provider": pubHost.ID().String()}, &byProv)
		call(t, s, map[string]any{"op": "holders", "multihashes": mhs, "provider": ids[0].String()}, &byOther)
		for k := range mhs {
			if !slices.Equal(byProv[k], holders[k]) || len(byOther[k]) != 0 {
				t.Errorf("provider filter: %v / %v vs %v", byProv[k], byOther[k], holders[k])
			}
		}

		var provs []nodeRecords
		call(t, s, map[string]any{"op": "providers", "multihash": mhs[0]}, &provs)
		if len(provs) != 20 {
			t.Fatalf("providers on %d nodes", len(provs))
		}
		pubAddr := pubHost.Network().ListenAddresses()[0].String()
		for _, nr := range provs {
			if len(nr.Records) != 1 || nr.Records[0].ID != pubHost.ID().String() || !slices.Contains(nr.Records[0].Addrs, pubAddr) {
				t.Errorf("node %d records %+v", nr.Local, nr.Records)
			}
		}

		var recs [][]provRecord
		call(t, s, map[string]any{"op": "records", "multihashes": mhs, "pairs": []map[string]int{
			{"key": 1, "local": holders[1][0]}, {"key": 1, "local": -1 + numServers},
		}}, &recs)
		if len(recs) != 2 || len(recs[0]) != 1 || recs[0][0].ID != pubHost.ID().String() {
			t.Errorf("records %+v", recs)
		}
		if slices.Contains(holders[1], numServers-1) != (len(recs[1]) == 1) {
			t.Errorf("records for node %d disagree with holders: %+v", numServers-1, recs[1])
		}
	})

	t.Run("findprovs finds the provider", func(t *testing.T) {
		boot := fmt.Sprintf("%s/p2p/%s,%s/p2p/%s", started[3].Multiaddrs[0], ids[3], started[17].Multiaddrs[0], ids[17])
		in := strings.NewReader(cids[0].String() + "\n\nnot-a-cid\n" + cids[1].String() + "\n" + randomCID(t).String() + "\n")
		var out, errOut bytes.Buffer
		code := runFindProvs([]string{"--bootstrap", boot, "--provider", pubHost.ID().String(), "--timeout", "5s"}, in, &out, &errOut)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		found := map[string]findLine{}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var l findLine
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			found[l.CID] = l
		}
		if len(found) != 4 {
			t.Fatalf("lines: %s", out.String())
		}
		for _, c := range cids[:2] {
			if l := found[c.String()]; !l.Found || len(l.Addrs) == 0 {
				t.Errorf("%s: %+v", c, l)
			}
		}
		if l := found["not-a-cid"]; l.Found || !strings.Contains(l.Error, "line 3") {
			t.Errorf("bad line: %+v", l)
		}
		if code := runFindProvs([]string{"--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/" + ids[0].String(), "--provider", ids[0].String()},
			strings.NewReader(""), &out, &errOut); code != 1 {
			t.Errorf("unreachable bootstrap: exit %d", code)
		}
	})

	t.Run("ADD_PROVIDER over one long stream, past the write buffer", func(t *testing.T) {
		// 300 records to one server: the first 256 reach the datastore, the
		// rest sit in kad-dht's pending buffer. holders must see all of them.
		target := addrInfo(t, started[5])
		sender := testHost(t, true)
		st := kadStream(t, sender, target)
		defer st.Close()
		addr := sender.Network().ListenAddresses()[0]
		keys := make([]string, 300)
		for i := range keys {
			c := randomCID(t)
			keys[i] = base64.StdEncoding.EncodeToString(c.Hash())
			if err := writeMsg(st, addProviderMsg(c.Hash(), sender.ID(), addr)); err != nil {
				t.Fatal(err)
			}
		}
		var holders [][]int
		ok := eventually(5*time.Second, func() bool {
			call(t, s, map[string]any{"op": "holders", "multihashes": keys, "provider": sender.ID().String()}, &holders)
			for _, h := range holders {
				if !slices.Equal(h, []int{5}) {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Fatalf("holders: %v", holders)
		}
		n, _ := s.f.node(5)
		if got := n.store.numMultihashes(); got < 256 {
			t.Errorf("only %d records reached the datastore", got)
		}
	})

	t.Run("a refused record resets the stream", func(t *testing.T) {
		sender := testHost(t, true)
		st := kadStream(t, sender, addrInfo(t, started[6]))
		c := randomCID(t)
		// Names another peer as provider: handleAddProvider refuses it and
		// handleNewStream resets the whole stream.
		if err := writeMsg(st, addProviderMsg(c.Hash(), ids[0], sender.Network().ListenAddresses()[0])); err != nil {
			t.Fatal(err)
		}
		_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := readMsg(st); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("stream survived a refused ADD_PROVIDER: %v", err)
		}
		var holders [][]int
		call(t, s, map[string]any{"op": "holders", "multihashes": []string{base64.StdEncoding.EncodeToString(c.Hash())}}, &holders)
		if len(holders[0]) != 0 {
			t.Errorf("refused record held by %v", holders[0])
		}
	})

	t.Run("setLatency delays each response once", func(t *testing.T) {
		client := testHost(t, false)
		st := kadStream(t, client, addrInfo(t, started[7]))
		defer st.Close()
		rtt := func() time.Duration {
			start := time.Now()
			if err := writeMsg(st, pb.NewMessage(pb.Message_FIND_NODE, []byte(ids[1]), 0)); err != nil {
				t.Fatal(err)
			}
			m, err := readMsg(st)
			if err != nil || len(m.CloserPeers) == 0 {
				t.Fatalf("FIND_NODE: %v %v", m, err)
			}
			return time.Since(start)
		}
		call(t, s, map[string]any{"op": "setLatency", "meanMs": 100, "jitterMs": 0}, nil)
		for range 2 { // same stream, so one delay per response, not per stream
			if d := rtt(); d < 100*time.Millisecond || d > 400*time.Millisecond {
				t.Errorf("FIND_NODE with 100 ms latency took %v", d)
			}
		}
		call(t, s, map[string]any{"op": "setLatency", "meanMs": 0}, nil)
		if d := rtt(); d >= 100*time.Millisecond {
			t.Errorf("FIND_NODE without latency took %v", d)
		}
	})

	t.Run("tarpit hangs dials, stopNodes refuses them", func(t *testing.T) {
		call(t, s, map[string]any{"op": "tarpit", "locals": []int{8}}, nil)
		call(t, s, map[string]any{"op": "tarpit", "locals": []int{8}}, nil) // idempotent
		call(t, s, map[string]any{"op": "stopNodes", "locals": []int{9, 9}}, nil)

		dial := func(i int) (time.Duration, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			err := testHost(t, false).Connect(ctx, addrInfo(t, started[i]))
			return time.Since(start), err
		}
		if d, err := dial(8); err == nil || d < 1900*time.Millisecond || strings.Contains(err.Error(), "refused") {
			t.Errorf("tarpit dial: %v after %v", err, d)
		}
		if d, err := dial(9); err == nil || d > time.Second || !strings.Contains(err.Error(), "refused") {
			t.Errorf("stopped dial: %v after %v", err, d)
		}
		var res struct{ OK, Failed int }
		call(t, s, map[string]any{"op": "connect", "plan": []map[string]any{
			{"local": 10, "targets": []map[string]any{{"peerId": ids[9].String(), "multiaddrs": started[9].Multiaddrs}}},
			{"local": 9, "targets": []map[string]any{{"peerId": ids[10].String(), "multiaddrs": started[10].Multiaddrs}}},
		}}, &res)
		if res.OK != 0 || res.Failed != 2 {
			t.Errorf("connect to and from a stopped node: %+v", res)
		}
		var tables []*tableInfo
		call(t, s, map[string]any{"op": "tables"}, &tables)
		if tables[8] != nil || tables[9] != nil || tables[10] == nil {
			t.Errorf("tables for 8, 9, 10: %v %v %v", tables[8], tables[9], tables[10])
		}
		var holders [][]int
		call(t, s, map[string]any{"op": "holders", "multihashes": mhs}, &holders)
		for _, h := range holders {
			if slices.Contains(h, 8) || slices.Contains(h, 9) {
				t.Errorf("holders include a dead node: %v", h)
			}
		}
		call(t, s, map[string]any{"op": "stopNodes", "locals": []int{8}}, nil)
		if d, err := dial(8); err == nil || d > time.Second || !strings.Contains(err.Error(), "refused") {
			t.Errorf("stopped tarpit dial: %v after %v", err, d)
		}
	})

	t.Run("bad requests name the field", func(t *testing.T) {
		for _, c := range []struct {
			req  map[string]any
			want string
		}{
			{map[string]any{"op": "nope"}, "unknown op"},
			{map[string]any{"op": "start", "protocol": testProto}, "count"},
			{map[string]any{"op": "start", "count": 1, "protocol": testProto, "colour": 1}, "colour"},
			{map[string]any{"op": "connect", "plan": []map[string]any{{"local": 999}}}, "plan[0].local"},
			{map[string]any{"op": "connect", "plan": []map[string]any{{"local": 0, "targets": []map[string]any{{"peerId": "x"}}}}}, "plan[0].targets[0].peerId"},
			{map[string]any{"op": "holders", "multihashes": []string{"AAAA", "%%"}}, "multihashes[1]"},
			{map[string]any{"op": "records", "multihashes": []string{"AAAA"}, "pairs": []map[string]int{{"key": 1, "local": 0}}}, "pairs[0].key"},
			{map[string]any{"op": "setLatency", "meanMs": -1}, "meanMs"},
			{map[string]any{"op": "stopNodes", "locals": []int{5000}}, "locals[0]"},
		} {
			if got := callErr(t, s, c.req); !strings.Contains(got, c.want) {
				t.Errorf("%v: error %q does not name %q", c.req, got, c.want)
			}
		}
	})
}
