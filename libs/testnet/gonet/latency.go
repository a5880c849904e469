package main

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// latencyKnob holds the process-wide response delay. It is read on every
// response, so a change applies at once, also to streams already open.
type latencyKnob struct {
	v atomic.Pointer[latencySetting]
}

type latencySetting struct {
	mean, jitter time.Duration
}

func (k *latencyKnob) set(mean, jitter time.Duration) {
	k.v.Store(&latencySetting{mean: mean, jitter: jitter})
}

// draw returns a delay uniform in [mean-jitter, mean+jitter], clamped at 0.
func (k *latencyKnob) draw() time.Duration {
	s := k.v.Load()
	if s == nil || s.mean <= 0 {
		return 0
	}
	d := s.mean
	if s.jitter > 0 {
		d += time.Duration(rand.Int64N(int64(2*s.jitter)+1)) - s.jitter
	}
	return max(d, 0)
}

// delayHost is what the DHT sees as its host. kad-dht registers its server
// handler through SetStreamHandler (dht.go moveToServerMode), so wrapping that
// one call is enough to put every inbound kad stream behind delayStream,
// without touching kad-dht itself. Everything else is the real host.
type delayHost struct {
	host.Host
	knob *latencyKnob
}

func (h *delayHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(s network.Stream) {
		handler(&delayStream{Stream: s, knob: h.knob})
	})
}

// delayStream delays each response once. kad-dht's handleNewStream
// (dht_net.go) reads one request, then writes its response through a 4 KiB
// bufio.Writer (internal/net WriteMsg): usually a single Write, but several
// for a response over 4 KiB. So the delay is tied to the request, not to the
// Write: a successful Read arms it, the first Write after that pays it and
// disarms it. ADD_PROVIDER gets no response, so it never pays; a later
// request on the same stream re-arms it anyway. The msgio varint reader reads
// exactly one message, never ahead, so no request can hide behind another's
// Read.
type delayStream struct {
	network.Stream
	knob  *latencyKnob
	armed atomic.Bool
}

func (s *delayStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	if n > 0 {
		s.armed.Store(true)
	}
	return n, err
}

func (s *delayStream) Write(p []byte) (int, error) {
	if s.armed.Swap(false) {
		if d := s.knob.draw(); d > 0 {
			time.Sleep(d) // parks the goroutine: no CPU while waiting
		}
	}
	return s.Stream.Write(p)
}
