package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "unsafe" // go:linkname
)

// Server serves HTTP/1.1 on a plain-TCP listener, running each request's
// handler in its connection's goroutine.
//
// net/http's server starts a goroutine per request to watch the connection
// while the handler runs, and stops it when the handler returns (a
// goroutine start, a deadline change and two wake-ups per request). This
// server watches only requests whose handler runs longer than WatchAfter,
// which leaves the common short request with no hand-off at all; a
// streamed reply still learns of a client that went away at once, from its
// next write.
//
// Requests are parsed by net/http's own parser (the one http.ReadRequest
// wraps: request line, header fields, Content-Length and chunked framing),
// followed by the
// checks net/http's server adds (protocol version, a Host header, valid
// header names and values), so it accepts what net/http's server accepts
// and refuses the rest with the same status codes. Connections that open
// with the HTTP/2 client preface (h2c with prior knowledge) are handed to
// HTTP2, a net/http server.
//
// Beyond net/http's server it does not offer: Hijack, response trailers,
// full-duplex bodies (an unread request body is discarded, up to 256 KiB,
// before the reply is sent), ReadTimeout and WriteTimeout.
type Server struct {
	Handler http.Handler // non-nil
	// HTTP2 serves connections that open with the HTTP/2 preface; it must
	// allow unencrypted HTTP/2. nil closes such connections.
	HTTP2 *http.Server
	// ReadHeaderTimeout bounds reading a request's head. 0 means 30s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request for this
	// long. 0 means 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's head. 0 means 1 MiB, as net/http.
	MaxHeaderBytes int
	// WatchAfter is how long a handler runs before the server watches its
	// connection, cancelling the request's context when the client goes
	// away. 0 means 10ms.
	WatchAfter time.Duration
	// Logger receives handler panics and accept errors. nil discards.
	Logger *slog.Logger

	inShutdown atomic.Bool
	mu         sync.Mutex
	listeners  map[*net.Listener]struct{} // +checklocks:mu
	conns      map[*srvConn]struct{}      // +checklocks:mu
	h2         *handoff                   // +checklocks:mu
	h2done     chan struct{}              // +checklocks:mu; closed when HTTP2.Serve returns
}

// ErrServerClosed is what Serve returns after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

const (
	maxPostHandlerRead = 256 << 10
	bufferBeforeChunk  = 2048
	rstAvoidanceDelay  = 500 * time.Millisecond
	h2Preface          = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
)

var preface = []byte(h2Preface)

// Serve accepts connections on ln until Shutdown or Close, and always
// returns a non-nil error (ErrServerClosed after those).
func (s *Server) Serve(ln net.Listener) error {
	if s.inShutdown.Load() {
		return ErrServerClosed
	}
	s.mu.Lock()
	if s.listeners == nil {
		s.listeners = map[*net.Listener]struct{}{}
		s.conns = map[*srvConn]struct{}{}
	}
	s.listeners[&ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, &ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger().Warn("http: accept error; retrying", "err", err, "in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := &srvConn{srv: s, nc: nc, remote: nc.RemoteAddr().String(), born: time.Now()}
		if !s.track(c) {
			nc.Close()
			return ErrServerClosed
		}
		go c.serve()
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) track(c *srvConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShutdown.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *srvConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections, and waits for active
// ones to finish their request (they then close) or for ctx to end, when
// it returns ctx's error and leaves the rest to Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.closeListeners()
	var h2err chan error
	s.mu.Lock()
	if s.h2 != nil {
		h2err = make(chan error, 1)
		go func() { h2err <- s.HTTP2.Shutdown(ctx) }()
	}
	s.mu.Unlock()
	tick := time.Millisecond
	for {
		if s.closeIdle() {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(tick):
		}
		tick = min(2*tick, 100*time.Millisecond)
	}
	if h2err != nil {
		return <-h2err
	}
	return nil
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.closeListeners()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	h2 := s.h2 != nil
	s.mu.Unlock()
	if h2 {
		return s.HTTP2.Close()
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		(*ln).Close()
	}
}

// closeIdle closes the connections waiting for a request and reports
// whether none are left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		// As net/http, a connection that has not yet sent a request
		// gets 5s to send one.
		if c.idle.Load() && (c.served.Load() || time.Since(c.born) > 5*time.Second) {
			c.nc.Close()
		}
	}
	return len(s.conns) == 0
}

// handOff gives an h2c connection to HTTP2, starting it on first use.
func (s *Server) handOff(nc net.Conn) {
	s.mu.Lock()
	if s.h2 == nil {
		s.h2 = &handoff{conns: make(chan net.Conn), closed: make(chan struct{}), addr: nc.LocalAddr()}
		s.h2done = make(chan struct{})
		go func(h *handoff, done chan struct{}) {
			s.HTTP2.Serve(h)
			close(done)
		}(s.h2, s.h2done)
	}
	h := s.h2
	s.mu.Unlock()
	select {
	case h.conns <- nc:
	case <-h.closed:
		nc.Close()
	}
}

// handoff is the listener HTTP2 serves: the connections handOff passes.
type handoff struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error   { h.once.Do(func() { close(h.closed) }); return nil }
func (h *handoff) Addr() net.Addr { return h.addr }

// prefixConn replays the bytes read while looking for the preface.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// srvConn is one client connection.
type srvConn struct {
	srv    *Server
	nc     net.Conn
	remote string
	cr     connReader
	br     *bufio.Reader
	bw     *bufio.Writer
	werr   error       // the first write error; the connection is done
	idle   atomic.Bool // waiting for a request (Shutdown may close it)
	served atomic.Bool // a request has been read
	born   time.Time
	http10 bool

	// The watch: a timer that, WatchAfter into a request, starts a read
	// on the connection that cancels the request if the client goes away.
	timer *time.Timer
	wmu   sync.Mutex
	cur   *response     // +checklocks:wmu; the request being served
	fired bool          // +checklocks:wmu; the timer fired for cur
	watch chan struct{} // +checklocks:wmu; non-nil while a watch runs; closed when it ends
	gone  atomic.Bool   // the watch saw the client go away
	wbuf  [1]byte

	pending [bufferBeforeChunk]byte // the reply's body before its head is sent
}

// connReader reads the connection for the bufio.Reader, bounding a
// request head and first returning a byte the watch read.
type connReader struct {
	c        *srvConn
	limit    int64 // bytes left before a head is too large; <0 means unbounded
	hitLimit bool
	stash    bool // c.wbuf[0] was read by the watch and is due next
}

func (r *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.limit == 0 {
		r.hitLimit = true
		return 0, io.EOF
	}
	if r.limit > 0 && int64(len(p)) > r.limit {
		p = p[:r.limit]
	}
	var n int
	var err error
	if r.stash {
		r.stash = false
		p[0] = r.c.wbuf[0]
		n = 1
	} else {
		n, err = r.c.nc.Read(p)
	}
	if r.limit > 0 {
		r.limit -= int64(n)
	}
	return n, err
}

// Write is the bufio.Writer's sink: the first error ends the connection
// and cancels the request being served.
func (c *srvConn) Write(p []byte) (int, error) {
	if c.werr != nil {
		return 0, c.werr
	}
	n, err := c.nc.Write(p)
	if err != nil {
		c.werr = err
		c.wmu.Lock()
		if c.cur != nil {
			c.cur.cancel()
		}
		c.wmu.Unlock()
	}
	return n, err
}

var (
	readerPool sync.Pool
	writerPool sync.Pool
)

func (c *srvConn) serve() {
	c.cr = connReader{c: c, limit: -1}
	if v, ok := readerPool.Get().(*bufio.Reader); ok {
		v.Reset(&c.cr)
		c.br = v
	} else {
		c.br = bufio.NewReaderSize(&c.cr, 4096)
	}
	if v, ok := writerPool.Get().(*bufio.Writer); ok {
		v.Reset(c)
		c.bw = v
	} else {
		c.bw = bufio.NewWriterSize(c, 4096)
	}
	handedOff := false
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			c.srv.logger().Error("http: panic serving "+c.remote, "panic", fmt.Sprint(v))
		}
		if c.timer != nil {
			c.timer.Stop()
		}
		if !handedOff {
			c.nc.Close()
		}
		c.srv.untrack(c)
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
	}()
	c.idle.Store(true)
	if c.srv.inShutdown.Load() {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(durationOr(c.srv.ReadHeaderTimeout, 30*time.Second)))
	if c.srv.HTTP2 != nil {
		h2, err := c.sniffPreface()
		if err != nil {
			return
		}
		if h2 {
			prefix := make([]byte, c.br.Buffered())
			c.br.Read(prefix)
			c.nc.SetReadDeadline(time.Time{})
			handedOff = true
			c.srv.handOff(&prefixConn{Conn: c.nc, prefix: prefix})
			return
		}
	}
	ctx := context.Background()
	lastPost := false
	for first := true; ; first = false {
		if !first {
			c.idle.Store(true)
			if c.srv.inShutdown.Load() {
				return
			}
			// As net/http: wait for the start of the next request (an
			// idle connection the client closes gets no reply), and
			// forgive up to 4 bytes of CR and LF after a POST.
			c.nc.SetReadDeadline(time.Now().Add(durationOr(c.srv.IdleTimeout, 120*time.Second)))
			peek, err := c.br.Peek(4)
			if err != nil {
				return
			}
			if lastPost {
				c.br.Discard(leadingCRLF(peek))
			}
			c.nc.SetReadDeadline(time.Now().Add(durationOr(c.srv.ReadHeaderTimeout, 30*time.Second)))
		}
		w, err := c.readRequest(ctx)
		c.idle.Store(false)
		c.served.Store(true)
		if err != nil {
			c.replyError(err)
			return
		}
		lastPost = w.req.Method == http.MethodPost
		if !c.serveRequest(w) {
			return
		}
	}
}

func leadingCRLF(b []byte) int {
	n := 0
	for _, c := range b {
		if c != '\r' && c != '\n' {
			break
		}
		n++
	}
	return n
}

// sniffPreface reads as much of the connection's first bytes as it takes
// to tell the HTTP/2 preface from an HTTP/1 request.
func (c *srvConn) sniffPreface() (bool, error) {
	if _, err := c.br.Peek(1); err != nil {
		return false, err
	}
	for {
		n := min(c.br.Buffered(), len(h2Preface))
		b, _ := c.br.Peek(n)
		if !bytes.HasPrefix(preface, b) {
			return false, nil
		}
		if n == len(preface) {
			return true, nil
		}
		if _, err := c.br.Peek(n + 1); err != nil {
			return false, err
		}
	}
}

// readRequest is net/http's request parser, the function its own server
// calls: request line, header fields, Content-Length and chunked framing.
// (http.ReadRequest wraps it but drops the Host field, which the server's
// checks below need to tell a missing Host from an empty one.) net/http
// keeps it linkable; see go.dev/issue/67401.
//
//go:linkname readRequest net/http.readRequest
func readRequest(b *bufio.Reader) (*http.Request, error)

// requestError is a request the server refuses before any handler runs.
type requestError struct {
	code int
	text string
}

func (e *requestError) Error() string { return e.text }

var errHeadTooLarge = &requestError{http.StatusRequestHeaderFieldsTooLarge, ""}

func (c *srvConn) readRequest(ctx context.Context) (*response, error) {
	limit := c.srv.MaxHeaderBytes
	if limit <= 0 {
		limit = http.DefaultMaxHeaderBytes
	}
	// As net/http: the head may take MaxHeaderBytes plus 4 KiB of slack,
	// counting what is already buffered.
	c.cr.limit = max(int64(limit)+4096-int64(c.br.Buffered()), 1)
	c.cr.hitLimit = false
	req, err := readRequest(c.br)
	hit := c.cr.hitLimit
	c.cr.limit = -1
	if err != nil {
		if hit {
			return nil, errHeadTooLarge
		}
		return nil, err
	}
	c.nc.SetReadDeadline(time.Time{})
	if req.ProtoMajor != 1 {
		return nil, &requestError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	hosts, haveHost := req.Header["Host"]
	if req.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && req.Method != http.MethodConnect {
		return nil, &requestError{http.StatusBadRequest, "missing required Host header"}
	}
	if len(hosts) == 1 && !validHost(hosts[0]) {
		return nil, &requestError{http.StatusBadRequest, "malformed Host header"}
	}
	for k, vv := range req.Header {
		if !validToken(k) {
			return nil, &requestError{http.StatusBadRequest, "invalid header name"}
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				return nil, &requestError{http.StatusBadRequest, "invalid header value"}
			}
		}
	}
	delete(req.Header, "Host")
	expect := req.Header.Get("Expect")
	continues := hasToken(expect, "100-continue")
	if !continues && expect != "" {
		return nil, &requestError{http.StatusExpectationFailed, ""}
	}
	c.http10 = !req.ProtoAtLeast(1, 1)
	req.RemoteAddr = c.remote
	ctx, cancel := context.WithCancel(ctx)
	req = req.WithContext(ctx)
	w := &response{c: c, req: req, cancel: cancel, header: make(http.Header), declared: -1}
	w.body = reqBody{w: w, rc: req.Body, eof: req.Body == http.NoBody}
	w.body.expect = continues && req.ProtoAtLeast(1, 1) && req.ContentLength != 0
	connection := req.Header.Get("Connection")
	w.wantsClose = req.Close || hasToken(connection, "close")
	w.wants10KeepAlive = req.ProtoMajor == 1 && req.ProtoMinor == 0 && hasToken(connection, "keep-alive")
	if req.Body != http.NoBody {
		req.Body = &w.body
	}
	return w, nil
}

// replyError answers a request that could not be read, as net/http does,
// and reports nothing: the connection closes after it.
func (c *srvConn) replyError(err error) {
	const headers = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	var re *requestError
	switch {
	case errors.As(err, &re):
		status := strconv.Itoa(re.code) + " " + http.StatusText(re.code)
		if re.text != "" {
			status += ": " + re.text
		}
		io.WriteString(c.nc, "HTTP/1.1 "+status+headers+status)
		if re.code == http.StatusRequestHeaderFieldsTooLarge {
			c.closeWriteAndWait()
		}
	case isUnsupportedTE(err):
		io.WriteString(c.nc, "HTTP/1.1 501 Not Implemented"+headers+"Unsupported transfer encoding")
	case isCommonReadError(err):
		// The client went away or stayed silent: no reply.
	default:
		io.WriteString(c.nc, "HTTP/1.1 400 Bad Request"+headers+"400 Bad Request")
	}
}

// isUnsupportedTE reports whether readRequest refused the request's
// Transfer-Encoding (net/http answers those 501). Its error type is
// unexported, so it is known by name.
func isUnsupportedTE(err error) bool {
	return fmt.Sprintf("%T", err) == "*http.unsupportedTEError"
}

// isCommonReadError is net/http's rule for when a request that could not
// be read gets no reply.
func isCommonReadError(err error) bool {
	var oe *net.OpError
	return err == io.EOF || isTimeout(err) || (errors.As(err, &oe) && oe.Op == "read")
}

// closeWriteAndWait half-closes the connection and waits a little, so the
// client reads the reply before a reset could discard it.
func (c *srvConn) closeWriteAndWait() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	time.Sleep(rstAvoidanceDelay)
}

// serveRequest runs the handler and finishes the reply; it reports whether
// the connection may carry another request.
func (c *srvConn) serveRequest(w *response) bool {
	c.wmu.Lock()
	c.cur = w
	c.fired = false
	c.wmu.Unlock()
	after := durationOr(c.srv.WatchAfter, 10*time.Millisecond)
	if c.timer == nil {
		c.timer = time.AfterFunc(after, c.watchFired)
	} else {
		c.timer.Reset(after)
	}
	if w.req.RequestURI == "*" && w.req.Method == http.MethodOptions {
		// As net/http: the server answers OPTIONS * itself.
		w.Header().Set("Content-Length", "0")
	} else {
		c.srv.Handler.ServeHTTP(w, w.req)
	}
	c.timer.Stop()
	c.wmu.Lock()
	c.cur = nil
	watch := c.watch
	c.watch = nil
	c.wmu.Unlock()
	if watch != nil {
		c.nc.SetReadDeadline(aLongTimeAgo)
		<-watch
	}
	w.cancel()
	w.finish()
	if c.werr == nil {
		if err := c.bw.Flush(); err != nil && c.werr == nil {
			c.werr = err
		}
	}
	if c.werr != nil || c.gone.Load() {
		return false
	}
	if w.closeAfter {
		if w.body.unread {
			c.closeWriteAndWait()
		}
		return false
	}
	return true
}

// watchFired runs on the timer's goroutine, WatchAfter into a request.
func (c *srvConn) watchFired() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.cur == nil {
		return
	}
	c.fired = true
	c.startWatchLocked()
}

// startWatchLocked starts watching the connection if the request's body
// has been read to its end (the connection is otherwise the handler's to
// read) and no next request is already buffered.
//
// +checklocks:c.wmu
func (c *srvConn) startWatchLocked() {
	if !c.fired || c.watch != nil || !c.cur.body.eof || c.br.Buffered() > 0 {
		return
	}
	done := make(chan struct{})
	c.watch = done
	cancel := c.cur.cancel
	go func() {
		defer close(done)
		n, err := c.nc.Read(c.wbuf[:])
		if n == 1 {
			c.cr.stash = true // a pipelined request: keep its first byte
			return
		}
		if err != nil && !isTimeout(err) {
			c.gone.Store(true)
			cancel()
		}
	}()
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// reqBody is a request's body as its handler sees it: it sends 100
// Continue on the first read when the client asked for it, notes the end
// (which lets the watch start), and never reads on after Close.
type reqBody struct {
	w      *response
	rc     io.ReadCloser
	expect bool // 100 Continue is owed on the first read
	eof    bool
	closed bool
	unread bool // the body was left unread and the connection must close
}

func (b *reqBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.expect {
		b.expect = false
		if !b.w.committed {
			c := b.w.c
			c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			c.bw.Flush()
		}
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		c := b.w.c
		c.wmu.Lock()
		b.eof = true
		c.startWatchLocked()
		c.wmu.Unlock()
	}
	return n, err
}

func (b *reqBody) Close() error {
	b.closed = true
	return nil
}

// drain reads what the handler left of the body, up to 256 KiB, so the
// connection can carry the next request; it reports whether it reached the
// end.
func (b *reqBody) drain() bool {
	if b.eof {
		return true
	}
	if b.expect {
		// The client waits for 100 Continue before sending the body; it
		// never came, so the body never will.
		return false
	}
	n, err := io.CopyN(io.Discard, b.rc, maxPostHandlerRead+1)
	if err != io.EOF || n > maxPostHandlerRead {
		return false
	}
	c := b.w.c
	c.wmu.Lock()
	b.eof = true
	c.wmu.Unlock()
	return true
}

// response is the http.ResponseWriter of one request.
type response struct {
	c      *srvConn
	req    *http.Request
	cancel context.CancelFunc
	body   reqBody

	header      http.Header
	snapshot    http.Header // the header as of WriteHeader, if the handler kept changing it
	status      int
	wroteHeader bool
	committed   bool  // the head is in the connection's buffer
	chunked     bool  // the body is sent in chunks
	declared    int64 // the handler's Content-Length, or -1
	written     int64
	pending     []byte // body bytes held back before the head is committed
	closeAfter  bool

	// What the request asked of the connection, read before the handler
	// runs (it may change the request's header).
	wantsClose       bool
	wants10KeepAlive bool
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
)

func (w *response) Header() http.Header {
	if w.wroteHeader && !w.committed && w.snapshot == nil {
		w.snapshot = w.header
		w.header = w.header.Clone()
	}
	return w.header
}

func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.wroteHeader {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInterim(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			w.declared = v
		} else {
			w.header.Del("Content-Length")
		}
	}
}

// writeInterim sends a 1xx reply with the header as it stands.
func (w *response) writeInterim(code int) {
	c := w.c
	if code == http.StatusContinue {
		if !w.body.expect {
			return
		}
		w.body.expect = false
	}
	c.bw.WriteString("HTTP/1.1 ")
	c.bw.WriteString(statusLine(code))
	writeFields(c.bw, w.header, false)
	c.bw.WriteString("\r\n")
	c.bw.Flush()
}

func (w *response) bodyAllowed() bool {
	return w.status != http.StatusNoContent && w.status != http.StatusNotModified && w.status >= 200
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, w.c.werr
	}
	if !w.bodyAllowed() {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed {
		if w.pending == nil {
			w.pending = w.c.pending[:0]
		}
		if len(w.pending)+len(p) <= cap(w.pending) {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	if err := w.writeBody(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *response) writeBody(p []byte) error {
	c := w.c
	if w.req.Method == http.MethodHead || len(p) == 0 {
		return c.werr
	}
	if w.chunked {
		var size [20]byte
		c.bw.Write(strconv.AppendInt(size[:0], int64(len(p)), 16))
		c.bw.WriteString("\r\n")
		c.bw.Write(p)
		c.bw.WriteString("\r\n")
	} else {
		c.bw.Write(p)
	}
	return c.werr
}

// Flush sends the head and what the handler has written so far.
func (w *response) Flush() { w.FlushError() }

// FlushError is Flush, reporting a failed write (the client went away).
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	if w.c.werr != nil {
		return w.c.werr
	}
	return w.c.bw.Flush()
}

// commit writes the head, then the held-back body bytes. final means the
// handler has returned, so a body held back whole gets a Content-Length.
func (w *response) commit(final bool) {
	c := w.c
	w.committed = true
	h := w.header
	if w.snapshot != nil {
		h = w.snapshot
	}
	// Read or give up on what the handler left of the request body before
	// replying: clients that send a whole request before reading could
	// otherwise deadlock against the reply.
	if !w.body.drain() {
		w.body.unread = true
		w.closeAfter = true
	}
	length := w.declared
	allowed := w.bodyAllowed()
	head := w.req.Method == http.MethodHead
	if allowed && length < 0 {
		switch {
		case final && !(head && w.written == 0):
			length = w.written
		case head:
			// Nothing to frame: a HEAD reply has no body.
		case c.http10:
			// HTTP/1.0 has no chunks: the body ends when the connection
			// does (below).
		default:
			w.chunked = true
		}
	}
	if w.status == http.StatusNoContent || w.status < 200 {
		length = -1
	}
	bw := c.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(statusLine(w.status))
	writeFields(bw, h, true)
	if length >= 0 {
		var b [20]byte
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(b[:0], length, 10))
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if _, ok := h["Content-Type"]; !ok && allowed && len(w.pending) > 0 {
		bw.WriteString("Content-Type: ")
		bw.WriteString(http.DetectContentType(w.pending))
		bw.WriteString("\r\n")
	}
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.WriteString(httpDate())
		bw.WriteString("\r\n")
	}
	// Whether the connection outlives the reply, by net/http's rules.
	keepAlive10 := false
	switch {
	case c.http10:
		// HTTP/1.0 keeps a connection only when asked to and when the
		// reply's end is known without closing it.
		keepAlive10 = w.wants10KeepAlive && (head || length >= 0 || !allowed)
		if !keepAlive10 {
			w.closeAfter = true
		}
	case w.wantsClose:
		w.closeAfter = true
	}
	if h.Get("Connection") == "close" || c.srv.inShutdown.Load() {
		w.closeAfter, keepAlive10 = true, false
	}
	if w.closeAfter {
		bw.WriteString("Connection: close\r\n")
	} else if keepAlive10 {
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
	w.body.expect = false
	pending := w.pending
	w.pending = nil
	w.writeBody(pending)
}

// finish completes the reply after the handler returns.
func (w *response) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	} else if w.chunked {
		w.c.bw.WriteString("0\r\n\r\n")
	}
	if w.declared >= 0 && w.written < w.declared && w.bodyAllowed() && w.req.Method != http.MethodHead {
		// The body is shorter than its Content-Length: only closing the
		// connection tells the client.
		w.closeAfter = true
	}
}

// hasToken reports whether the comma- or space-separated list v holds
// token, ignoring case (net/http's rule).
func hasToken(v, token string) bool {
	for sp := 0; sp+len(token) <= len(v); sp++ {
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !isTokenBoundary(v[end]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// writeFields writes a header's fields. Fields that are not valid tokens
// are dropped and line breaks in values become spaces, as net/http does;
// with framing set, the fields the server sets itself are left out.
func writeFields(bw *bufio.Writer, h http.Header, framing bool) {
	for k, vv := range h {
		if !validToken(k) {
			continue
		}
		if framing {
			switch k {
			case "Content-Length", "Transfer-Encoding", "Connection":
				continue
			}
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			writeValue(bw, v)
			bw.WriteString("\r\n")
		}
	}
}

func writeValue(bw *bufio.Writer, v string) {
	v = strings.TrimSpace(v)
	for {
		i := strings.IndexAny(v, "\r\n")
		if i < 0 {
			bw.WriteString(v)
			return
		}
		bw.WriteString(v[:i])
		bw.WriteByte(' ')
		v = v[i+1:]
	}
}

// statusLine is "CODE Reason\r\n".
func statusLine(code int) string {
	if code == http.StatusOK {
		return "200 OK\r\n"
	}
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	return strconv.Itoa(code) + " " + text + "\r\n"
}

// httpDate is the current time in the Date header's format, formatted
// once a second.
func httpDate() string {
	now := time.Now()
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &cachedDate{sec: sec, text: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.text
}

type cachedDate struct {
	sec  int64
	text string
}

var dateCache atomic.Pointer[cachedDate]

// validFieldValue reports whether v may be a header value: no control
// characters but tab (httpguts.ValidHeaderFieldValue's rule).
func validFieldValue(v string) bool {
	for i := range len(v) {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether h may be a Host header (httpguts's
// ValidHostHeader rule: bytes of a host, a port or an IPv6 literal).
func validHost(h string) bool {
	for i := range len(h) {
		if !validHostByte[h[i]] {
			return false
		}
	}
	return true
}

var validHostByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range []byte("!$%&'()*+,-.:;=[]_~") {
		t[c] = true
	}
	return t
}()
