package main

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// tarpit imitates the unreachable peers that fill Amino's routing tables: the
// TCP handshake completes (the kernel does it), then nothing, ever, so the
// dialler's multistream/noise handshake hangs until its own timeout. The only
// goroutine blocks in Accept and accepted sockets are never read, so an idle
// tarpit costs no CPU.
type tarpit struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  bool
}

// openTarpit binds addr (the port the host just released). The host's
// sockets may take a moment to let go of the port, so binding is retried
// briefly; Go sets SO_REUSEADDR, so TIME_WAIT leftovers do not block it.
func openTarpit(addr string) (*tarpit, error) {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp4", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("tarpit on %s: %w", addr, err)
	}
	t := &tarpit{ln: ln}
	go t.accept()
	return t, nil
}

func (t *tarpit) accept() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return // listener closed
		}
		t.mu.Lock()
		if t.done {
			t.mu.Unlock()
			_ = c.Close()
			return
		}
		t.conns = append(t.conns, c) // held, never read: the peer's bytes sit in the kernel
		t.mu.Unlock()
	}
}

func (t *tarpit) close() {
	t.mu.Lock()
	t.done = true
	conns := t.conns
	t.conns = nil
	t.mu.Unlock()
	_ = t.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}
