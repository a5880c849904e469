package main

import (
	"errors"
	"fmt"
	"sync"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

type nodeState int

const (
	stateLive nodeState = iota
	stateStopped
	stateTarpit
)

// node is one stock kad-dht server and, once tarpitted, the raw listener
// that replaced it on the same port.
type node struct {
	idx    int
	id     peer.ID
	proto  string
	listen ma.Multiaddr // /ip4/127.0.0.1/tcp/PORT
	host   host.Host    // the real host; the DHT sees it through delayHost
	dht    *dht.IpfsDHT
	store  *recordStore
	notes  *unflushed

	mu    sync.Mutex
	state nodeState
	pit   *tarpit
}

func startNode(idx int, proto string, knob *latencyKnob) (*node, error) {
	key, err := newIdentity()
	if err != nil {
		return nil, err
	}
	h, err := newHost(key, "/ip4/127.0.0.1/tcp/0")
	if err != nil {
		return nil, err
	}
	n := &node{idx: idx, id: h.ID(), proto: proto, host: h, store: newRecordStore(), notes: newUnflushed()}
	n.store.onPut = n.notes.flushed

	for _, a := range h.Network().ListenAddresses() {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil && manet.IsIPLoopback(a) {
			n.listen = a
			break
		}
	}
	if n.listen == nil {
		_ = h.Close()
		return nil, errors.New("host has no loopback tcp listen address")
	}

	opts := append(dhtOptions(proto, dht.ModeServer, n.store), dht.OnRequestHook(n.notes.hook))
	n.dht, err = dht.New(&delayHost{Host: h, knob: knob}, opts...)
	if err != nil {
		_ = h.Close()
		return nil, fmt.Errorf("dht: %w", err)
	}
	return n, nil
}

// live returns the DHT if the node is still serving.
func (n *node) live() (*dht.IpfsDHT, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dht, n.state == stateLive
}

// shut closes the host (dropping every connection and freeing the port)
// before the DHT, as kad-dht's Close asks.
func (n *node) shut() {
	_ = n.host.Close()
	_ = n.dht.Close()
}

// stop leaves the port refusing connections. Idempotent.
func (n *node) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.state {
	case stateLive:
		n.shut()
	case stateTarpit:
		n.pit.close()
		n.pit = nil
	}
	n.state = stateStopped
}

// tarpitNode swaps the server for a tarpit on the same port. Idempotent; a
// stopped node's port becomes a tarpit too.
func (n *node) tarpitNode() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.state {
	case stateTarpit:
		return nil
	case stateLive:
		n.shut()
		n.state = stateStopped
	}
	addr, err := manet.ToNetAddr(n.listen)
	if err != nil {
		return err
	}
	pit, err := openTarpit(addr.String())
	if err != nil {
		return err
	}
	n.pit = pit
	n.state = stateTarpit
	return nil
}
