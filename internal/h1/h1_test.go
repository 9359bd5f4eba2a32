package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countConns returns a server running h and a counter of the connections
// it accepted.
func countConns(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

// roundTripFunc is an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newClient returns a client on a new Transport whose fallback fails the
// test: every request here must be served by the transport itself.
func newClient(t *testing.T) (*http.Client, *Transport) {
	tr := &Transport{Fallback: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("%s %s went to the fallback", r.Method, r.URL)
		return nil, errors.New("fallback")
	})}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, tr
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRequests checks what a net/http server receives and answers for each
// kind of request, all on one kept-alive connection.
func TestRequests(t *testing.T) {
	srv, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		switch r.URL.Path {
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
			return
		case "/stream":
			for i := range 3 {
				fmt.Fprintf(w, "part %d;", i)
				w.(http.Flusher).Flush()
			}
			return
		}
		fmt.Fprintf(w, "%s %s?%s host=%s te=%v len=%d ct=%s body=%s", r.Method, r.URL.Path, r.URL.RawQuery, r.Host,
			r.TransferEncoding, r.ContentLength, r.Header.Get("Content-Type"), b)
	}))
	c, _ := newClient(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name string
		do   func() (*http.Response, error)
		want string
	}{
		{"get", func() (*http.Response, error) { return c.Get(srv.URL + "/a?x=1") },
			"GET /a?x=1 host=" + host + " te=[] len=0 ct= body="},
		{"post", func() (*http.Response, error) {
			return c.Post(srv.URL+"/p", "application/json", strings.NewReader(`{"a":1}`))
		}, "POST /p? host=" + host + " te=[] len=7 ct=application/json body={\"a\":1}"},
		{"post-unknown-length", func() (*http.Response, error) {
			return c.Post(srv.URL+"/p", "text/plain", io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")))
		}, "POST /p? host=" + host + " te=[chunked] len=-1 ct=text/plain body=abcd"},
		{"post-empty", func() (*http.Response, error) { return c.Post(srv.URL+"/e", "text/plain", nil) },
			"POST /e? host=" + host + " te=[] len=0 ct=text/plain body="},
		{"stream", func() (*http.Response, error) { return c.Get(srv.URL + "/stream") }, "part 0;part 1;part 2;"},
		{"no-content", func() (*http.Response, error) { return c.Get(srv.URL + "/nocontent") }, ""},
		{"head", func() (*http.Response, error) { return c.Head(srv.URL + "/h") }, ""},
	} {
		resp, err := tc.do()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := readAll(t, resp); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		if m := resp.Header.Get("X-Method"); m == "" {
			t.Errorf("%s: response header X-Method missing", tc.name)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for sequential requests, want 1", n)
	}
}

// TestStreamsWithoutBuffering checks that each chunk reaches the caller as
// the server sends it, before the reply ends.
func TestStreamsWithoutBuffering(t *testing.T) {
	next := make(chan struct{})
	srv, _ := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	c, _ := newClient(t)
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("data: %d\n", i); line != want {
			t.Fatalf("line %q, want %q", line, want)
		}
		br.ReadString('\n')
		next <- struct{}{}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the last event: %v, want EOF", err)
	}
}

// TestReuse checks when a connection is kept and when it is not.
func TestReuse(t *testing.T) {
	srv, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, strings.Repeat("x", 100000))
	}))
	c, tr := newClient(t)
	get := func(path string, read bool) {
		t.Helper()
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		if read {
			io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
	}
	get("/", true)
	get("/", true)
	if n := conns.Load(); n != 1 {
		t.Fatalf("two complete replies used %d connections, want 1", n)
	}
	get("/", false) // closed before its end: the connection goes
	get("/", true)
	if n := conns.Load(); n != 2 {
		t.Fatalf("after an unread body: %d connections, want 2", n)
	}
	get("/close", true) // the server closes it
	get("/", true)
	if n := conns.Load(); n != 3 {
		t.Fatalf("after Connection: close: %d connections, want 3", n)
	}
	tr.CloseIdleConnections()
	get("/", true)
	if n := conns.Load(); n != 4 {
		t.Fatalf("after CloseIdleConnections: %d connections, want 4", n)
	}
}

// TestServerClosedIdle checks that a connection the server closed while it
// was idle does not fail a request: after trustIdle get sees it closed and
// dials a new one; within trustIdle the request is sent again on a new one.
func TestServerClosedIdle(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Start()
	defer srv.Close()
	c, _ := newClient(t)
	var reused []bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) },
	})
	post := func() {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("body"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); got != "ok" {
			t.Fatalf("got %q", got)
		}
	}
	post()
	time.Sleep(trustIdle + 100*time.Millisecond)
	reused = nil
	post()
	if len(reused) != 1 || reused[0] {
		t.Errorf("after %v idle: connections %v, want one new one", trustIdle, reused)
	}
	time.Sleep(100 * time.Millisecond)
	reused = nil
	post()
	if len(reused) != 2 || !reused[0] || reused[1] {
		t.Errorf("after 100ms idle: connections %v, want the kept one, then a new one", reused)
	}
}

// TestRetryOnClosedKeptConn checks the race alive cannot see: the server
// closes a kept connection just as a request is written on it. The request
// is sent once more on a new connection.
func TestRetryOnClosedKeptConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var served atomic.Int32
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				served.Add(1)
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				// Wait for the next request and close without answering.
				br.Peek(1)
			}()
		}
	}()
	c, tr := newClient(t)
	for i := range 3 {
		resp, err := c.Post("http://"+ln.Addr().String(), "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		readAll(t, resp)
		// Make the kept connection look alive to get: hand it back as if
		// just used, which is the window a real race leaves.
		tr.mu.Lock()
		for _, cs := range tr.idle {
			for _, c := range cs {
				c.idleAt = time.Now()
			}
		}
		tr.mu.Unlock()
	}
	if n := served.Load(); n != 3 {
		t.Errorf("server answered %d requests, want 3", n)
	}
}

// TestCancel checks that cancelling the context ends a stream that is
// waiting for the server, with the context's error, and frees the
// connection.
func TestCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	c, _ := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err = resp.Body.Read(buf)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
	resp.Body.Close()
	// A request before its reply is cancelled too.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hold.Close()
	req2, _ := http.NewRequestWithContext(ctx2, http.MethodGet, hold.URL, nil)
	if _, err := c.Do(req2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("request cancelled before its reply: %v, want DeadlineExceeded", err)
	}
	_ = conns
}

// TestFallback checks that https goes to the fallback transport.
func TestFallback(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls")
	}))
	defer srv.Close()
	c := &http.Client{Transport: &Transport{Fallback: srv.Client().Transport}}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "tls" {
		t.Errorf("got %q", got)
	}
}

// rawServer answers every connection with reply, then closes it.
func rawServer(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				if _, err := http.ReadRequest(bufio.NewReader(nc)); err != nil {
					return
				}
				io.WriteString(nc, reply)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestReplies checks the framing of raw replies, well formed and not.
func TestReplies(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		body        string // "" with err set means the request or body fails
		err         bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello", false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n", "hello!", false},
		{"chunked-upper-hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", "0123456789", false},
		{"lf-only", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", "ok", false},
		{"to-close", "HTTP/1.0 200 OK\r\n\r\nuntil the end", "until the end", false},
		{"continue-first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", "x", false},
		{"short-length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "", true},
		{"cut-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "", true},
		{"no-last-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n", "", true},
		{"bad-chunk-size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "", true},
		{"huge-chunk-size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1234567890abcdef0\r\n", "", true},
		{"chunk-overrun", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n0\r\n\r\n", "", true},
		{"gzip-coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "", true},
		{"conflicting-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "", true},
		{"negative-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "", true},
		{"bad-proto", "HTTP/2.0 200 OK\r\n\r\n", "", true},
		{"bad-status", "HTTP/1.1 2xx OK\r\n\r\n", "", true},
		{"no-colon", "HTTP/1.1 200 OK\r\nBroken\r\n\r\n", "", true},
		{"folded", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", "", true},
		{"control-byte", "HTTP/1.1 200 OK\r\nA: b\x01c\r\nContent-Length: 0\r\n\r\n", "", true},
		{"empty", "", "", true},
		{"cut-head", "HTTP/1.1 200 OK\r\nContent-Le", "", true},
		{"switching", "HTTP/1.1 101 Switching Protocols\r\n\r\n", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := rawServer(t, tc.reply)
			c, _ := newClient(t)
			resp, err := c.Get(url)
			if err == nil {
				var b []byte
				b, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && string(b) != tc.body {
					t.Errorf("body %q, want %q", b, tc.body)
				}
			}
			if (err != nil) != tc.err {
				t.Errorf("err = %v, want error: %v", err, tc.err)
			}
		})
	}
}

// TestHeadTooLong checks MaxHeaderBytes.
func TestHeadTooLong(t *testing.T) {
	url := rawServer(t, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 5000)+"\r\nContent-Length: 0\r\n\r\n")
	c := &http.Client{Transport: &Transport{MaxHeaderBytes: 4096}}
	if _, err := c.Get(url); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("err = %v, want a too-long head", err)
	}
	c = &http.Client{Transport: &Transport{}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(resp.Header.Get("X-Big")); got != 5000 {
		t.Errorf("X-Big has %d bytes, want 5000", got)
	}
	resp.Body.Close()
}

// TestBadRequests checks that a request that would break its framing is
// refused before anything is sent.
func TestBadRequests(t *testing.T) {
	c, _ := newClient(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Injected") != "" || r.Header.Get("X-Bad") != "" {
			t.Errorf("the server got a header it should not have: %v", r.Header)
		}
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header["X-Bad"] = []string{"a\r\nX-Injected: 1"}
	if _, err := c.Do(req); err == nil {
		t.Error("a header value with CRLF was sent")
	}
	req, _ = http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader([]byte("abc")))
	req.ContentLength = 10
	if _, err := c.Do(req); err == nil {
		t.Error("a body shorter than its ContentLength was sent without error")
	}
}

// TestEarlyReply checks that a server which answers before reading the
// body, and closes the connection, gets its answer to the caller rather
// than the broken write.
func TestEarlyReply(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		br := bufio.NewReader(nc)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		io.WriteString(nc, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!")
		nc.(*net.TCPConn).CloseWrite()
		time.Sleep(50 * time.Millisecond)
		nc.Close() // unread body bytes make this a reset
	}()
	c, _ := newClient(t)
	resp, err := c.Post("http://"+ln.Addr().String(), "application/octet-stream", bytes.NewReader(make([]byte, 32<<20)))
	if err != nil {
		t.Fatalf("POST: %v, want the server's 413", err)
	}
	if got := readAll(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge || got != "too big!" {
		t.Errorf("got %d %q, want 413 %q", resp.StatusCode, got, "too big!")
	}
}

// TestIdleReaped: idle connections are closed after IdleTimeout even when
// no further request comes to their host.
func TestIdleReaped(t *testing.T) {
	closed := make(chan struct{}, 4)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	tr := &Transport{IdleTimeout: 50 * time.Millisecond}
	for range 2 {
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection was not closed")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.idle) != 0 || tr.reaper != nil {
		t.Fatalf("after reaping: %d hosts idle, reaper %v", len(tr.idle), tr.reaper != nil)
	}
}
