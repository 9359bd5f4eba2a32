// Package h1 speaks HTTP/1.1 without net/http's goroutine hand-offs: a
// client transport, here, and a server (Server, in server.go).
//
// Transport is an http.RoundTripper for
// plain-HTTP upstreams on a trusted network: model servers on loopback or
// in the same cluster. It does all of a request's work in the calling
// goroutine: it writes the request, reads the response head and, through
// the response body, the rest of the reply, on a pooled keep-alive
// connection.
//
// net/http's Transport runs two goroutines per connection and hands every
// request and response between them and the caller over channels: four
// goroutine wake-ups per request, which added about 40 µs to a loopback
// round trip of about 110 µs on a 2-vCPU host (net/http against a raw
// socket, same server in another process). This transport has none.
//
// It speaks a deliberately small part of HTTP/1.1: requests with a known
// length or chunked bodies; responses with Content-Length, chunked
// transfer coding or read-to-close bodies; keep-alive and Connection:
// close. Everything else (https, proxies from the environment, CONNECT,
// request trailers) goes to a fallback transport, net/http's by default.
// Response heads are bounded (MaxHeaderBytes) and parsed strictly; a reply
// that breaks the protocol fails the request and closes its connection.
package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Transport is an http.RoundTripper. Its zero value is ready to use; it is
// safe for concurrent use.
type Transport struct {
	// Fallback serves the requests this transport does not (https,
	// proxied, CONNECT, request trailers). nil means http.DefaultTransport.
	Fallback http.RoundTripper
	// MaxIdlePerHost bounds the idle connections kept per host. 0 means 64.
	MaxIdlePerHost int
	// IdleTimeout closes connections idle longer than this. 0 means 90s.
	IdleTimeout time.Duration
	// DialTimeout bounds opening a connection. 0 means 30s.
	DialTimeout time.Duration
	// MaxHeaderBytes bounds a response head. 0 means 1 MiB.
	MaxHeaderBytes int

	mu     sync.Mutex
	idle   map[string][]*conn // +checklocks:mu; most recently used last
	reaper *time.Timer        // +checklocks:mu; set while idle connections wait to be reaped
}

var _ http.RoundTripper = (*Transport)(nil)

// conn is one pooled connection.
type conn struct {
	t      *Transport
	key    string // host:port
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time // when it was last put back
	used   bool      // it has served a request before
}

func (t *Transport) fallback() http.RoundTripper {
	if t.Fallback != nil {
		return t.Fallback
	}
	return http.DefaultTransport
}

// RoundTrip sends req and returns its response, whose body reads the rest
// of the reply from the connection. It implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "http" || req.Method == http.MethodConnect || len(req.Trailer) > 0 || proxied(req) {
		return t.fallback().RoundTrip(req)
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	key := hostPort(req)
	for attempt := 0; ; attempt++ {
		c, err := t.get(ctx, key)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, wrote, err := c.roundTrip(req)
		if err == nil {
			return resp, nil
		}
		c.close()
		// A kept-alive connection the server closed between requests fails
		// before any reply: send the request once more on a new one, if its
		// body can be sent again.
		if attempt == 0 && c.used && !wrote.replied && ctx.Err() == nil && isConnGone(err) {
			if req.Body == nil || req.Body == http.NoBody {
				continue
			}
			if req.GetBody != nil {
				if b, gerr := req.GetBody(); gerr == nil {
					req = req.Clone(ctx)
					req.Body = b
					continue
				}
			}
		}
		closeBody(req)
		return nil, err
	}
}

// CloseIdleConnections closes the pooled connections, and the fallback's.
func (t *Transport) CloseIdleConnections() {
	if f, ok := t.fallback().(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.nc.Close()
		}
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// proxied reports whether the environment sends req through a proxy.
func proxied(req *http.Request) bool {
	u, err := http.ProxyFromEnvironment(req)
	return err != nil || u != nil
}

// hostPort is req's connection key: its host with the port made explicit.
func hostPort(req *http.Request) string {
	h := req.URL.Host
	if req.URL.Port() == "" {
		return net.JoinHostPort(req.URL.Hostname(), "80")
	}
	return h
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return 90 * time.Second
}

// get returns an idle connection to key that is still open, or a new one.
func (t *Transport) get(ctx context.Context, key string) (*conn, error) {
	idleTimeout := t.idleTimeout()
	for {
		t.mu.Lock()
		cs := t.idle[key]
		var c *conn
		if n := len(cs); n > 0 {
			c = cs[n-1]
			cs[n-1] = nil
			t.idle[key] = cs[:n-1]
		}
		t.mu.Unlock()
		if c == nil {
			break
		}
		// A connection used a moment ago is taken on trust (servers keep
		// idle connections for seconds); if the server closed it anyway,
		// RoundTrip sends the request again on a new one.
		idle := time.Since(c.idleAt)
		if idle > idleTimeout || idle > trustIdle && !alive(c.nc) {
			c.nc.Close()
			continue
		}
		if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.GotConn != nil {
			trace.GotConn(httptrace.GotConnInfo{Conn: c.nc, Reused: true, WasIdle: true, IdleTime: idle})
		}
		return c, nil
	}
	timeout := t.DialTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", key)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: nc})
	}
	return &conn{t: t, key: key, nc: nc, br: bufio.NewReaderSize(nc, 8<<10), bw: bufio.NewWriterSize(nc, 4<<10)}, nil
}

// put returns c to the pool, or closes it if the pool is full.
func (t *Transport) put(c *conn) {
	max := t.MaxIdlePerHost
	if max <= 0 {
		max = 64
	}
	c.used = true
	c.idleAt = time.Now()
	t.mu.Lock()
	if t.idle == nil {
		t.idle = map[string][]*conn{}
	}
	cs := t.idle[c.key]
	if len(cs) < max {
		t.idle[c.key] = append(cs, c)
		c = nil
		if t.reaper == nil {
			t.reaper = time.AfterFunc(t.idleTimeout(), t.reap)
		}
	}
	t.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
}

// reap closes the connections idle longer than the idle timeout, so a
// host no longer called keeps none open, and runs again when the oldest
// left would expire.
func (t *Transport) reap() {
	timeout := t.idleTimeout()
	now := time.Now()
	var old []*conn
	t.mu.Lock()
	var next time.Time
	for key, cs := range t.idle {
		// Most recently used last: the expired ones are a prefix.
		n := 0
		for n < len(cs) && now.Sub(cs[n].idleAt) >= timeout {
			n++
		}
		old = append(old, cs[:n]...)
		rest := append(cs[:0], cs[n:]...)
		clear(cs[len(rest):])
		if len(rest) == 0 {
			delete(t.idle, key)
			continue
		}
		t.idle[key] = rest
		if due := rest[0].idleAt.Add(timeout); next.IsZero() || due.Before(next) {
			next = due
		}
	}
	if next.IsZero() {
		t.reaper = nil
	} else {
		t.reaper.Reset(next.Sub(now))
	}
	t.mu.Unlock()
	for _, c := range old {
		c.nc.Close()
	}
}

func (c *conn) close() { c.nc.Close() }

// progress says how far a round trip got before it failed.
type progress struct {
	replied bool // a byte of the reply was read
}

// trustIdle is how long a connection may have been idle before get checks
// that the server has not closed it.
const trustIdle = 500 * time.Millisecond

// aLongTimeAgo is a deadline in the past: setting it makes pending and
// future reads and writes on the connection fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes req on c and reads the response head. On success the
// response body owns c; on failure the caller closes c.
func (c *conn) roundTrip(req *http.Request) (*http.Response, progress, error) {
	var p progress
	ctx := req.Context()
	// Cancelling ctx breaks the connection's reads and writes; the body
	// stops this when the reply ends.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, progress, error) {
		stop()
		if ctx.Err() != nil {
			return nil, p, ctx.Err()
		}
		return nil, p, err
	}
	if err := c.writeRequest(req); err != nil {
		// A server may answer before it has read the whole body (413, 401)
		// and close the connection, which breaks the write: its answer is
		// still worth more than the write error. It is in the receive
		// buffer already if it was sent.
		var op *net.OpError
		if ctx.Err() != nil || !errors.As(err, &op) || op.Op != "write" && op.Op != "readfrom" {
			return fail(err)
		}
		c.nc.SetReadDeadline(time.Now().Add(earlyReplyWait))
		resp, rerr := c.readResponse(req, &p)
		if rerr != nil {
			return fail(err)
		}
		c.nc.SetReadDeadline(time.Time{})
		resp.Close = true
		return c.withBody(req, resp, stop), p, nil
	}
	resp, err := c.readResponse(req, &p)
	if err != nil {
		return fail(err)
	}
	return c.withBody(req, resp, stop), p, nil
}

// earlyReplyWait is how long a request whose body could not be written
// waits for the server's reply.
const earlyReplyWait = 100 * time.Millisecond

// withBody gives resp its body, which owns c from now on.
func (c *conn) withBody(req *http.Request, resp *http.Response, stop func() bool) *http.Response {
	ctx := req.Context()
	b := &body{c: c, stop: stop, ctx: ctx}
	switch {
	case req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified:
		resp.ContentLength = 0
		b.kind = bodyNone
	case resp.TransferEncoding != nil:
		b.kind = bodyChunked
	case resp.ContentLength >= 0:
		b.kind, b.left = bodyLength, resp.ContentLength
	default:
		b.kind = bodyToClose
		resp.Close = true
	}
	b.keep = !resp.Close
	if b.kind == bodyNone || b.kind == bodyLength && b.left == 0 {
		b.finish(true)
		resp.Body = http.NoBody
		return resp
	}
	resp.Body = b
	return resp
}

// writeRequest writes req's head and body and flushes them.
func (c *conn) writeRequest(req *http.Request) error {
	w := c.bw
	uri := req.URL.RequestURI()
	if uri == "" {
		uri = "/"
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validValue(host) || !validValue(uri) || !validToken(req.Method) {
		return errors.New("h1: invalid method, host or path")
	}
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Trailer":
			continue
		}
		if !validToken(k) {
			return fmt.Errorf("h1: invalid header name %q", k)
		}
		for _, v := range vs {
			if !validValue(v) {
				return fmt.Errorf("h1: invalid value for header %s", k)
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if req.Close {
		w.WriteString("Connection: close\r\n")
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	chunked := hasBody && req.ContentLength <= 0
	switch {
	case chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	case hasBody:
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.FormatInt(req.ContentLength, 10))
		w.WriteString("\r\n\r\n")
	case req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch:
		w.WriteString("Content-Length: 0\r\n\r\n")
	default:
		w.WriteString("\r\n")
	}
	if hasBody {
		err := writeBody(w, req.Body, req.ContentLength, chunked)
		req.Body.Close()
		if err != nil {
			return err
		}
	}
	return w.Flush()
}

// writeBody copies body to w: exactly n bytes, or in chunks.
func writeBody(w *bufio.Writer, body io.Reader, n int64, chunked bool) error {
	if !chunked {
		src := &sourceReader{r: io.LimitReader(body, n)}
		m, err := io.Copy(w, src)
		if src.err != nil {
			return fmt.Errorf("h1: reading the request body: %w", src.err)
		}
		if err != nil {
			return err // writing to the connection
		}
		if m != n {
			return fmt.Errorf("h1: request body is %d bytes, its ContentLength says %d", m, n)
		}
		return nil
	}
	buf := make([]byte, 16<<10)
	for {
		m, err := body.Read(buf)
		if m > 0 {
			w.WriteString(strconv.FormatInt(int64(m), 16))
			w.WriteString("\r\n")
			w.Write(buf[:m])
			w.WriteString("\r\n")
		}
		if err == io.EOF {
			_, werr := w.WriteString("0\r\n\r\n")
			return werr
		}
		if err != nil {
			return fmt.Errorf("h1: reading the request body: %w", err)
		}
	}
}

// sourceReader remembers the error of the reader it wraps, so a copy's
// read errors can be told from its write errors.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// validToken reports whether s is a non-empty HTTP token (a method or a
// header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// validValue reports whether s may be sent as a header value or request
// target: no CR, LF or NUL.
func validValue(s string) bool {
	for i := range len(s) {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// errBodyClosed is what reading a closed body returns.
var errBodyClosed = errors.New("h1: read on closed response body")

// Body kinds.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
	bodyToClose
)

// body is a response body reading from its connection. When it reaches
// the end of the reply it gives the connection back to the pool; Close
// before the end closes the connection.
type body struct {
	c    *conn
	stop func() bool // stops ctx's cancellation of the connection
	ctx  context.Context
	kind int
	keep bool  // the connection may be reused after the body
	left int64 // bytes left: of the body (bodyLength) or the current chunk (bodyChunked)
	eof  bool  // the chunked body's last chunk was read (trailers follow)
	err  error // sticky
	done atomic.Bool
}

// finish ends the body once: it gives the connection back to the pool if
// the reply ended cleanly and may be kept, or closes it.
func (b *body) finish(clean bool) {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	// If stop reports false, cancellation has already broken the
	// connection's deadline.
	if b.stop() && clean && b.keep {
		b.c.t.put(b.c)
		return
	}
	b.c.close()
}

func (b *body) Close() error {
	if b.done.CompareAndSwap(false, true) {
		b.stop()
		b.c.close()
	}
	return nil
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done.Load() {
		return 0, errBodyClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := b.read(p)
	if err != nil {
		if err == io.EOF {
			b.finish(true)
		} else {
			if b.ctx.Err() != nil {
				err = b.ctx.Err()
			} else if b.done.Load() {
				err = errBodyClosed
			}
			b.finish(false)
		}
		b.err = err
	}
	return n, err
}

// read reads the next bytes of the body, io.EOF at its clean end.
func (b *body) read(p []byte) (int, error) {
	br := b.c.br
	switch b.kind {
	case bodyLength:
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
		n, err := br.Read(p)
		b.left -= int64(n)
		if b.left == 0 {
			return n, io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	case bodyChunked:
		if b.left == 0 {
			if b.eof {
				return 0, io.EOF
			}
			size, err := readChunkSize(br)
			if err != nil {
				return 0, err
			}
			if size == 0 {
				b.eof = true
				if err := skipTrailers(br, b.c.t.maxHeaderBytes()); err != nil {
					return 0, err
				}
				return 0, io.EOF
			}
			b.left = size
		}
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
		n, err := br.Read(p)
		b.left -= int64(n)
		if err == io.EOF {
			return n, io.ErrUnexpectedEOF
		}
		if err != nil {
			return n, err
		}
		if b.left == 0 {
			if err := readCRLF(br); err != nil {
				return n, err
			}
		}
		return n, nil
	case bodyToClose:
		return br.Read(p)
	}
	return 0, io.EOF
}

func (t *Transport) maxHeaderBytes() int {
	if t.MaxHeaderBytes > 0 {
		return t.MaxHeaderBytes
	}
	return 1 << 20
}

// isConnGone reports whether err looks like a kept-alive connection the
// server had closed: the reply ended or was reset before its first byte.
func isConnGone(err error) bool {
	var op *net.OpError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &op) && !op.Timeout()
}
