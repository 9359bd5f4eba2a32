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
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startServer serves h on loopback with an h2c fallback and returns its
// address; the server is shut down at the end of the test.
func startServer(t testing.TB, h http.Handler, opts ...func(*Server)) (string, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h2 := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	h2.Protocols.SetHTTP1(true)
	h2.Protocols.SetUnencryptedHTTP2(true)
	s := &Server{Handler: h, HTTP2: h2}
	for _, o := range opts {
		o(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return ln.Addr().String(), s
}

// rawExchange writes req on a new connection and returns everything the
// server sends until it closes the connection or goes quiet for 300ms.
func rawExchange(t testing.TB, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s host=%s len=%d body=%s", r.Method, r.RequestURI, r.Host, r.ContentLength, b)
}

func TestServerKeepAliveAndFraming(t *testing.T) {
	big := strings.Repeat("x", 10000)
	addr, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hello")
		case "/big":
			io.WriteString(w, big)
		case "/declared":
			w.Header().Set("Content-Length", "3")
			io.WriteString(w, "abc")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/sniff":
			io.WriteString(w, "<html><body>hi</body></html>")
		default:
			echo(w, r)
		}
	}))
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for range 3 {
		resp := get("/small")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello" || resp.ContentLength != 5 || resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("Date") == "" {
			t.Fatalf("small: %q, length %d, header %v", b, resp.ContentLength, resp.Header)
		}
	}
	resp := get("/big")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != big || resp.ContentLength != -1 || len(resp.TransferEncoding) != 1 {
		t.Fatalf("big: %d bytes, length %d, TE %v", len(b), resp.ContentLength, resp.TransferEncoding)
	}
	resp = get("/declared")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "abc" || resp.ContentLength != 3 {
		t.Fatalf("declared: %q %d", b, resp.ContentLength)
	}
	resp = get("/nocontent")
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.ContentLength != 0 {
		t.Fatalf("204: %v %d", resp.Status, resp.ContentLength)
	}
	resp = get("/sniff")
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("sniffed %q", ct)
	}
	resp, err := client.Post("http://"+addr+"/echo?x=1", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "POST /echo?x=1 host=" + addr + " len=7 body=payload"; string(b) != want {
		t.Fatalf("echo: %q, want %q", b, want)
	}
	resp, err = client.Head("http://" + addr + "/small")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ContentLength != 5 {
		t.Fatalf("HEAD: length %d", resp.ContentLength)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections for sequential requests, want 1", n)
	}
}

// TestServerStreams checks that flushed writes reach the client before the
// handler returns.
func TestServerStreams(t *testing.T) {
	next := make(chan struct{})
	addr, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "event %d\n", i)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Error(err)
			}
			<-next
		}
	}))
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("event %d\n", i) {
			t.Fatalf("line %d: %q %v", i, line, err)
		}
		next <- struct{}{}
	}
}

func TestServerShortBodyClosesConnection(t *testing.T) {
	addr, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "abc")
		if _, err := io.WriteString(w, strings.Repeat("y", 20)); !errors.Is(err, http.ErrContentLength) {
			t.Errorf("writing past Content-Length: %v", err)
		}
	}))
	out := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(out, "\r\n\r\nabc") {
		t.Fatalf("reply %q", out)
	}
}

func TestServerRejects(t *testing.T) {
	addr, _ := startServer(t, http.HandlerFunc(echo), func(s *Server) { s.MaxHeaderBytes = 1000 })
	for _, tc := range []struct {
		name, req, status string
	}{
		{"no host", "GET / HTTP/1.1\r\n\r\n", "400 Bad Request: missing required Host header"},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400 Bad Request: malformed Host header"},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400 Bad Request"},
		{"bad value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", "400 Bad Request"},
		{"bad name", "GET / HTTP/1.1\r\nHost: a\r\nX Y: z\r\n\r\n", "400 Bad Request"},
		{"huge head", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", 6000) + "\r\n\r\n", "431 Request Header Fields Too Large"},
		{"gzip TE", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "501 Not Implemented"},
		{"HTTP/2 line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", "505 HTTP Version Not Supported"},
		{"expect", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", "417 Expectation Failed"},
		{"bad chunk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "200 OK"},
		{"garbage", "hello\r\n\r\n", "400 Bad Request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := rawExchange(t, addr, tc.req)
			if !strings.HasPrefix(out, "HTTP/1.1 "+tc.status) {
				t.Fatalf("reply %q, want %s", out, tc.status)
			}
		})
	}
}

// TestServerExpectContinue: 100 Continue goes out when the handler reads
// the body, and not when it answers without reading (the connection then
// closes, since the body never comes).
func TestServerExpectContinue(t *testing.T) {
	addr, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/deny" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		echo(w, r)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, "PUT /ok HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, want 100 Continue", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "data")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "PUT /ok host=a len=4 body=data" {
		t.Fatalf("body %q", b)
	}

	out := rawExchange(t, addr, "PUT /deny HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 403 Forbidden\r\n") || !strings.Contains(out, "Connection: close\r\n") {
		t.Fatalf("deny: %q", out)
	}

	// The real client: net/http's transport waits for 100 Continue.
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/ok", strings.NewReader("body"))
	req.Header.Set("Expect", "100-continue")
	start := time.Now()
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "PUT /ok host="+addr+" len=4 body=body" || time.Since(start) > 2*time.Second {
		t.Fatalf("%q after %v", b, time.Since(start))
	}
}

// TestServerUnreadBody: a small unread body is discarded and the
// connection kept; a large one closes it.
func TestServerUnreadBody(t *testing.T) {
	addr, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "denied", http.StatusForbidden)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for range 2 {
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n%s", strings.Repeat("z", 1000))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		if resp.StatusCode != 403 || resp.Close {
			t.Fatalf("status %d, close %v", resp.StatusCode, resp.Close)
		}
	}
	const n = 1 << 20
	go fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", n, strings.Repeat("z", n))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 403 || !resp.Close {
		t.Fatalf("large body: status %d, close %v", resp.StatusCode, resp.Close)
	}
}

func TestServerPipelined(t *testing.T) {
	addr, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(50 * time.Millisecond) // long enough for the watch to start
		}
		echo(w, r)
	}), func(s *Server) { s.WatchAfter = 5 * time.Millisecond })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	// Two requests in one write, then one sent while the handler sleeps
	// (the watch reads its first byte).
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
	time.Sleep(30 * time.Millisecond)
	io.WriteString(c, "GET /c HTTP/1.1\r\nHost: a\r\n\r\n")
	for _, want := range []string{"GET /a host=a len=0 body=", "POST /slow host=a len=2 body=hi", "GET /c host=a len=0 body="} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Fatalf("got %q, want %q", b, want)
		}
	}
}

// TestServerClientGone: a handler running past WatchAfter has its context
// cancelled when the client disconnects.
func TestServerClientGone(t *testing.T) {
	cancelled := make(chan time.Duration, 1)
	addr, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		start := time.Now()
		select {
		case <-r.Context().Done():
			cancelled <- time.Since(start)
		case <-time.After(5 * time.Second):
			cancelled <- -1
		}
	}), func(s *Server) { s.WatchAfter = 5 * time.Millisecond })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	c.Close()
	if d := <-cancelled; d < 0 {
		t.Fatal("the handler's context was not cancelled")
	}
	t.Logf("cancelled %v after the client closed", time.Since(start))
}

func TestServerH2C(t *testing.T) {
	addr, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s ", r.Proto)
		echo(w, r)
	}))
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Post("http://"+addr+"/x", "text/plain", strings.NewReader("h2"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "HTTP/2.0 POST /x host=" + addr + " len=2 body=h2"; string(b) != want {
		t.Fatalf("got %q, want %q", b, want)
	}
}

// TestServerShutdown: an idle connection is closed at once, an active
// request finishes (its reply says Connection: close), and Serve returns.
func TestServerShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	})}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()
	idle, _ := net.Dial("tcp", addr)
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	ibr := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(ibr, nil); err != nil {
		t.Fatal(err)
	} else {
		io.ReadAll(resp.Body)
	}
	active, _ := net.Dial("tcp", addr)
	defer active.Close()
	io.WriteString(active, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(active), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "done" || !resp.Close {
		t.Fatalf("active: %q close=%v", b, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

// TestServerIdleTimeout: a keep-alive connection with no next request is
// closed after IdleTimeout.
func TestServerIdleTimeout(t *testing.T) {
	addr, _ := startServer(t, http.HandlerFunc(echo), func(s *Server) { s.IdleTimeout = 50 * time.Millisecond })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the idle timeout: %v, want EOF", err)
	}
}

func TestServerHTTP10(t *testing.T) {
	addr, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("q", 5000))
		w.(http.Flusher).Flush()
	}))
	out := rawExchange(t, addr, "GET / HTTP/1.0\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200 OK\r\n") || !strings.Contains(out, "Connection: close\r\n") ||
		strings.Contains(out, "chunked") || !strings.HasSuffix(out, "\r\n\r\n"+strings.Repeat("q", 5000)) {
		t.Fatalf("HTTP/1.0 reply: %q", out[:min(len(out), 200)])
	}
}

// TestServerHEAD: a HEAD reply carries the length of the body a GET would
// get when the handler writes it, and no framing when it writes nothing.
func TestServerHEAD(t *testing.T) {
	addr, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			io.WriteString(w, "twelve bytes")
		}
	}))
	out := rawExchange(t, addr, "HEAD /body HTTP/1.1\r\nHost: a\r\n\r\nHEAD /empty HTTP/1.1\r\nHost: a\r\n\r\n")
	first, second, ok := strings.Cut(out, "\r\n\r\n")
	if !ok || !strings.Contains(first, "Content-Length: 12\r\n") || !strings.HasPrefix(second, "HTTP/1.1 200 OK\r\n") ||
		strings.Contains(second, "Transfer-Encoding") || !strings.HasSuffix(second, "\r\n\r\n") {
		t.Fatalf("replies %q", out)
	}
}

func TestServerAbortHandler(t *testing.T) {
	addr, _ := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("an aborted reply read as complete")
	}
}
