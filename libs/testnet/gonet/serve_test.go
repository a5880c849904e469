package main

import (
	"bufio"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// TestServeLoop drives the stdio loop over pipes: replies carry the request
// id, errors do not stop the loop, and EOF on stdin ends it promptly.
func TestServeLoop(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan struct{})
	go func() {
		newServer().serve(inR, outW)
		close(done)
	}()
	replies := bufio.NewScanner(outR)
	replies.Buffer(nil, 1<<20)
	send := func(line string) map[string]any {
		t.Helper()
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatal(err)
		}
		if !replies.Scan() {
			t.Fatal("no reply")
		}
		var m map[string]any
		if err := json.Unmarshal(replies.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", replies.Bytes(), err)
		}
		return m
	}

	if m := send(`{"id":1,"req":{"op":"start","count":2,"protocol":"/ipfs/kad/1.0.0"}}`); m["id"] != 1.0 || m["ok"] != true || len(m["result"].([]any)) != 2 {
		t.Fatalf("start: %v", m)
	}
	if m := send(`{"id":"x","req":{"op":"what"}}`); m["id"] != "x" || m["ok"] != false || m["error"] == "" {
		t.Fatalf("bad op: %v", m)
	}
	if m := send(`not json`); m["id"] != nil || m["ok"] != false {
		t.Fatalf("bad line: %v", m)
	}
	if m := send(`{"id":3,"req":{"op":"setLatency","meanMs":0}}`); m["ok"] != true || m["result"] != nil {
		t.Fatalf("setLatency: %v", m)
	}
	if m := send(`{"id":4,"req":{"op":"tables"}}`); len(m["result"].([]any)) != 2 {
		t.Fatalf("tables: %v", m)
	}

	_ = inW.Close() // the parent died
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after stdin EOF")
	}
}

// TestServeShutdown checks that shutdown is answered before the loop ends.
func TestServeShutdown(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan struct{})
	go func() {
		newServer().serve(inR, outW)
		close(done)
	}()
	go func() { _, _ = io.WriteString(inW, `{"id":9,"req":{"op":"shutdown"}}`+"\n") }()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil || line != `{"id":9,"ok":true,"result":null}`+"\n" {
		t.Fatalf("reply %q %v", line, err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after shutdown")
	}
}
