package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// server turns one request ("req" of a request line) into a result. The
// stdio loop and the tests both go through handle.
type server struct {
	f *fleet
}

func newServer() *server { return &server{f: &fleet{}} }

type outcome struct {
	result any
	err    error
	quit   bool // the parent asked us to exit once this reply is out
}

func (s *server) handle(raw json.RawMessage) outcome {
	var head struct {
		Op string `json:"op"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return outcome{err: fmt.Errorf("req: %v", err)}
	}
	op, ok := ops[head.Op]
	if !ok {
		if head.Op == "" {
			return outcome{err: errors.New("op: missing")}
		}
		return outcome{err: fmt.Errorf("op: unknown op %q", head.Op)}
	}
	res, err := op(s, raw)
	return outcome{result: res, err: err, quit: head.Op == "shutdown" && err == nil}
}

type opFunc func(s *server, raw json.RawMessage) (any, error)

var ops = map[string]opFunc{
	"start":      opStart,
	"connect":    opConnect,
	"selfLookup": opSelfLookup,
	"tables":     opTables,
	"providers":  opProviders,
	"holders":    opHolders,
	"records":    opRecords,
	"stopNodes":  opStopNodes,
	"tarpit":     opTarpit,
	"setLatency": opSetLatency,
	"shutdown":   opShutdown,
}

func opTables(s *server, raw json.RawMessage) (any, error) {
	if err := decode(raw, &struct{}{}); err != nil {
		return nil, err
	}
	return s.f.tables(), nil
}

// opShutdown only checks the request; the stdio loop exits after the reply.
func opShutdown(_ *server, raw json.RawMessage) (any, error) {
	return nil, decode(raw, &struct{}{})
}

// decode reads raw into v (a struct whose fields are the op's, "op" aside),
// refusing unknown fields and naming the field in every error.
func decode(raw json.RawMessage, v any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("req: %v", err)
	}
	delete(m, "op")
	rest, _ := json.Marshal(m)
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return fmt.Errorf("%s: expected %s, got %s", te.Field, te.Type, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	default:
		return err
	}
}

func need[T any](field string, v *T) (T, error) {
	if v == nil {
		var zero T
		return zero, fmt.Errorf("%s: missing", field)
	}
	return *v, nil
}

func concurrency(v *int, def int) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < 1 {
		return 0, fmt.Errorf("concurrency: must be >= 1, got %d", *v)
	}
	return *v, nil
}

func multihashes(field string, in []string) ([][]byte, error) {
	out := make([][]byte, len(in))
	for i, s := range in {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("%s[%d]: not a non-empty standard base64 string", field, i)
		}
		out[i] = b
	}
	return out, nil
}

func opStart(s *server, raw json.RawMessage) (any, error) {
	var r struct {
		Count    *int    `json:"count"`
		Protocol *string `json:"protocol"`
	}
	if err := decode(raw, &r); err != nil {
		return nil, err
	}
	count, err := need("count", r.Count)
	if err != nil {
		return nil, err
	}
	if count < 1 || count > 100000 {
		return nil, fmt.Errorf("count: must be 1..100000, got %d", count)
	}
	proto, err := need("protocol", r.Protocol)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(proto, "/") {
		return nil, fmt.Errorf("protocol: must start with '/', got %q", proto)
	}
	return s.f.start(count, proto)
}

func opConnect(s *server, raw json.RawMessage) (any, error) {
	var r struct {
		Plan []struct {
			Local   *int `json:"local"`
			Targets []struct {
				PeerID     string   `json:"peerId"`
				Multiaddrs []string `json:"multiaddrs"`
			} `json:"targets"`
		} `json:"plan"`
		Concurrency *int `json:"concurrency"`
	}
	if err := decode(raw, &r); err != nil {
		return nil, err
	}
	conc, err := concurrency(r.Concurrency, 8)
	if err != nil {
		return nil, err
	}
	var jobs []dialJob
	for i, e := range r.Plan {
		local, err := need(fmt.Sprintf("plan[%d].local", i), e.Local)
		if err != nil {
			return nil, err
		}
		n, err := s.f.node(local)
		if err != nil {
			return nil, fmt.Errorf("plan[%d].local: %w", i, err)
		}
		for j, t := range e.Targets {
			field := fmt.Sprintf("plan[%d].targets[%d]", i, j)
			id, err := peer.Decode(t.PeerID)
			if err != nil {
				return nil, fmt.Errorf("%s.peerId: %v", field, err)
			}
			if len(t.Multiaddrs) == 0 {
				return nil, fmt.Errorf("%s.multiaddrs: missing", field)
			}
			a, err := ma.NewMultiaddr(t.Multiaddrs[0])
			if err != nil {
				return nil, fmt.Errorf("%s.multiaddrs[0]: %v", field, err)
			}
			if a, inAddr := peer.SplitAddr(a); inAddr != "" && inAddr != id {
				return nil, fmt.Errorf("%s.multiaddrs[0]: /p2p/%s is not peerId", field, inAddr)
			} else if n != nil {
				jobs = append(jobs, dialJob{n: n, ai: peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{a}}})
			}
		}
	}
	ok, failed := s.f.connect(jobs, conc)
	// Jobs of nodes that never started count as failed dials.
	for _, e := range r.Plan {
		if n, _ := s.f.node(*e.Local); n == nil {
			failed += len(e.Targets)
		}
	}
	return map[string]int{"ok": ok, "failed": failed}, nil
}

func opSelfLookup(s *server, raw json.RawMessage) (any, error) {
	var r struct {
		Concurrency *int `json:"concurrency"`
	}
	if err := decode(raw, &r); err != nil {
		return nil, err
	}
	conc, err := concurrency(r.Concurrency, 16)
	if err != nil {
		return nil, err
	}
	return map[string]int{"failed": s.f.selfLookup(conc)}, nil
}

func opProviders(s *server, raw json.RawMessage) (any, error) {
	var r struct {
		Multihash *string `json:"multihash"`
	}
	if err := decode(raw, &r); err != nil {
		return nil, err
	}
	b64, err := need("multihash", r.Multihash)
	if err != nil {
		return nil, err
	}
	mh, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(mh) == 0 {
		return nil, errors.New("multihash: not a non-empty standard base64 string")
	}
	return s.f.providers(mh), nil
}

func opHolders(s *server, raw json.RawMessage) (any, error) {
	var r struct {
		Multihashes []string `json:"multihashes"`
		Provider    *string  `json:"provider"`
	}
	if err := decode(raw, &r); err != nil {
		return nil, err
	}
	mhs, err := multihashes("multihashes", r.Multihashes)
	if err != nil {
		return nil, err
	}
	var prov peer.ID
	if r.Provider != nil {
		if prov, err = peer.Decode(*r.Provider); err != nil {
			return nil, fmt.Errorf("provider: %v", err)
		}
	}
	return s.f.holders(mhs, prov), nil
}

func opRecords(s *server, raw json.RawMessage) (any, error) {
	var r struct {
		Multihashes []string `json:"multihashes"`
		Pairs       []struct {
			Key   *int `json:"key"`
			Local *int `json:"local"`
		} `json:"pairs"`
	}
	if err := decode(raw, &r); err != nil {
		return nil, err
	}
	mhs, err := multihashes("multihashes", r.Multihashes)
	if err != nil {
		return nil, err
	}
	pairs := make([]recordPair, len(r.Pairs))
	for i, p := range r.Pairs {
		key, err := need(fmt.Sprintf("pairs[%d].key", i), p.Key)
		if err != nil {
			return nil, err
		}
		if key < 0 || key >= len(mhs) {
			return nil, fmt.Errorf("pairs[%d].key: %d out of range (%d multihashes)", i, key, len(mhs))
		}
		local, err := need(fmt.Sprintf("pairs[%d].local", i), p.Local)
		if err != nil {
			return nil, err
		}
		if _, err := s.f.node(local); err != nil {
			return nil, fmt.Errorf("pairs[%d].local: %w", i, err)
		}
		pairs[i] = recordPair{key: key, local: local}
	}
	return s.f.records(mhs, pairs), nil
}

func opStopNodes(s *server, raw json.RawMessage) (any, error) {
	var r struct {
		Locals []int `json:"locals"`
	}
	if err := decode(raw, &r); err != nil {
		return nil, err
	}
	return nil, s.f.stopNodes(r.Locals)
}

func opTarpit(s *server, raw json.RawMessage) (any, error) {
	var r struct {
		Locals []int `json:"locals"`
	}
	if err := decode(raw, &r); err != nil {
		return nil, err
	}
	return nil, s.f.tarpit(r.Locals)
}

func opSetLatency(s *server, raw json.RawMessage) (any, error) {
	var r struct {
		MeanMs   *float64 `json:"meanMs"`
		JitterMs *float64 `json:"jitterMs"`
	}
	if err := decode(raw, &r); err != nil {
		return nil, err
	}
	mean, err := need("meanMs", r.MeanMs)
	if err != nil {
		return nil, err
	}
	jitter := 0.0
	if r.JitterMs != nil {
		jitter = *r.JitterMs
	}
	if mean < 0 || mean > 600000 {
		return nil, fmt.Errorf("meanMs: must be 0..600000, got %v", mean)
	}
	if jitter < 0 || jitter > 600000 {
		return nil, fmt.Errorf("jitterMs: must be 0..600000, got %v", jitter)
	}
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	s.f.knob.set(ms(mean), ms(jitter))
	return nil, nil
}
