package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// closeLimit bounds shutdown: the parent is gone or wants us gone, and a
// DHT stuck winding down must not keep the process (and its ports) alive.
const closeLimit = 10 * time.Second

func runServe(in io.Reader, out io.Writer) int {
	raiseFDLimit()
	newServer().serve(in, out)
	return 0
}

type okReply struct {
	ID     json.RawMessage `json:"id"`
	OK     bool            `json:"ok"`
	Result any             `json:"result"`
}

type errReply struct {
	ID    json.RawMessage `json:"id"`
	OK    bool            `json:"ok"`
	Error string          `json:"error"`
}

// replies serialises whole lines onto stdout.
type replies struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (r *replies) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		_, r.err = r.w.Write(append(b, '\n'))
	}
	return r.err
}

// serve handles request lines concurrently, each in its own goroutine, until
// stdin ends (the parent died), stdout breaks, or a shutdown is answered;
// then it closes every node. In-flight requests are abandoned, not awaited.
func (s *server) serve(in io.Reader, out io.Writer) {
	out2 := &replies{w: out}
	quit := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(quit) }) }

	lines := make(chan []byte)
	go func() {
		defer stop()
		// ReadBytes, not a Scanner: a holders request for 100k multihashes
		// is a line of several MB.
		r := bufio.NewReaderSize(in, 1<<20)
		for {
			line, err := r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				select {
				case lines <- line:
				case <-quit:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()

loop:
	for {
		select {
		case line := <-lines:
			go func() {
				if s.serveLine(line, out2) {
					stop()
				}
			}()
		case <-quit:
			break loop
		}
	}
	s.f.closeAll(closeLimit)
}

// serveLine answers one request line and reports whether the process should
// exit (a shutdown was answered, or stdout is gone).
func (s *server) serveLine(line []byte, out *replies) (exit bool) {
	var req struct {
		ID  json.RawMessage `json:"id"`
		Req json.RawMessage `json:"req"`
	}
	id := json.RawMessage("null")
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "gonet: request %s panicked: %v\n", id, p)
			exit = out.send(errReply{ID: id, Error: fmt.Sprintf("internal error: %v", p)}) != nil
		}
	}()

	if err := json.Unmarshal(line, &req); err != nil {
		return out.send(errReply{ID: id, Error: fmt.Sprintf("request line: %v", err)}) != nil
	}
	if len(req.ID) > 0 {
		id = req.ID
	}
	if len(req.Req) == 0 || string(req.Req) == "null" {
		return out.send(errReply{ID: id, Error: "req: missing"}) != nil
	}
	o := s.handle(req.Req)
	var err error
	if o.err != nil {
		err = out.send(errReply{ID: id, Error: o.err.Error()})
	} else {
		err = out.send(okReply{ID: id, OK: true, Result: o.result})
	}
	return err != nil || o.quit
}
