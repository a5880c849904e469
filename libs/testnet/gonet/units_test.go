package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/network"
)

// TestRecordStoreMatchesMapDatastore replays random writes on both stores
// and compares every kind of prefix query kad-dht issues.
func TestRecordStoreMatchesMapDatastore(t *testing.T) {
	ctx := context.Background()
	ours, ref := newRecordStore(), ds.NewMapDatastore()
	keys := []string{"/pk/a", "/ipns/b", "/providers/AB", "/providers/AB/C/D"}
	for i := range 2000 {
		keys = append(keys, fmt.Sprintf("/providers/M%d/P%d", rand.IntN(50), rand.IntN(5)))
		if i%7 == 0 {
			keys = append(keys, fmt.Sprintf("/providers/M%d0/P1", rand.IntN(50))) // shares a string prefix with M%d
		}
	}
	for i, k := range keys {
		v := []byte{byte(i)}
		_ = ours.Put(ctx, ds.NewKey(k), v)
		_ = ref.Put(ctx, ds.NewKey(k), v)
		if i%5 == 0 {
			d := ds.NewKey(keys[rand.IntN(i+1)])
			_ = ours.Delete(ctx, d)
			_ = ref.Delete(ctx, d)
		}
	}
	list := func(d ds.Datastore, q dsq.Query) []string {
		res, err := d.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		es, _ := res.Rest()
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = fmt.Sprintf("%s=%v", e.Key, e.Value)
		}
		slices.Sort(out)
		return out
	}
	for _, p := range []string{"", "/", "/providers", "/providers/", "/providers/M1", "/providers/M10", "/providers/AB", "/providers/AB/C", "/pk", "/nothing"} {
		q := dsq.Query{Prefix: p}
		if a, b := list(ours, q), list(ref, q); !slices.Equal(a, b) {
			t.Errorf("prefix %q: %d entries vs %d", p, len(a), len(b))
		}
	}
	for _, k := range keys[:100] {
		a, errA := ours.Get(ctx, ds.NewKey(k))
		b, errB := ref.Get(ctx, ds.NewKey(k))
		if !slices.Equal(a, b) || (errA == nil) != (errB == nil) {
			t.Errorf("get %s: %v/%v vs %v/%v", k, a, errA, b, errB)
		}
	}
}

func TestLatencyDraw(t *testing.T) {
	var k latencyKnob
	if k.draw() != 0 {
		t.Fatal("unset knob delays")
	}
	k.set(80*time.Millisecond, 20*time.Millisecond)
	for range 1000 {
		if d := k.draw(); d < 60*time.Millisecond || d > 100*time.Millisecond {
			t.Fatalf("draw %v outside [60ms, 100ms]", d)
		}
	}
	k.set(10*time.Millisecond, 50*time.Millisecond)
	for range 1000 {
		if d := k.draw(); d < 0 || d > 60*time.Millisecond {
			t.Fatalf("draw %v outside [0, 60ms]", d)
		}
	}
}

type fakeStream struct {
	network.Stream
	writes int
}

func (f *fakeStream) Read(p []byte) (int, error)  { return len(p), nil }
func (f *fakeStream) Write(p []byte) (int, error) { f.writes++; return len(p), nil }

// TestDelayOncePerResponse: a response split over several Writes (over 4 KiB)
// pays one delay; a request that gets no response pays none.
func TestDelayOncePerResponse(t *testing.T) {
	var k latencyKnob
	k.set(50*time.Millisecond, 0)
	s := &delayStream{Stream: &fakeStream{}, knob: &k}
	buf := make([]byte, 8)

	start := time.Now()
	_, _ = s.Read(buf)
	for range 3 {
		_, _ = s.Write(buf)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 95*time.Millisecond {
		t.Errorf("three writes of one response took %v", d)
	}
	start = time.Now()
	_, _ = s.Read(buf) // an ADD_PROVIDER: no write follows
	_, _ = s.Read(buf) // the next request
	_, _ = s.Write(buf)
	if d := time.Since(start); d < 50*time.Millisecond || d > 95*time.Millisecond {
		t.Errorf("reply after two requests took %v", d)
	}
}
