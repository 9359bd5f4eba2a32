package h1

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// pipeConn is a net.Conn that reads a fixed reply: the socket under the
// parser, for fuzzing.
type pipeConn struct {
	net.Conn
	r io.Reader
}

func (c *pipeConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *pipeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *pipeConn) Close() error                     { return nil }
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// parseReply reads data as the reply to a GET through the transport's
// parser and body, returning the status, the body and whether it
// succeeded.
func parseReply(data []byte) (int, []byte, bool) {
	t := &Transport{MaxHeaderBytes: 1 << 20}
	nc := &pipeConn{r: bytes.NewReader(data)}
	c := &conn{t: t, key: "x:80", nc: nc, br: bufio.NewReaderSize(nc, 64), bw: bufio.NewWriter(io.Discard)}
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	resp, _, err := c.roundTrip(req)
	if err != nil {
		return 0, nil, false
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return 0, nil, false
	}
	return resp.StatusCode, b, true
}

// FuzzReply feeds arbitrary bytes to the response parser. It must never
// panic, and whatever it accepts net/http must accept too, with the same
// status and body: the transport is never more lenient than net/http.
func FuzzReply(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nrest",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nno!",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		code, body, ok := parseReply(data)
		if !ok {
			return
		}
		br := bufio.NewReader(bytes.NewReader(data))
		var resp *http.Response
		for {
			var err error
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("accepted (status %d, body %q) but net/http refuses: %v", code, body, err)
			}
			if resp.StatusCode >= 200 {
				break
			}
		}
		want, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			t.Fatalf("accepted body %q but net/http fails reading it: %v", body, err)
		}
		if resp.StatusCode != code || !bytes.Equal(want, body) {
			t.Fatalf("got status %d body %q, net/http %d %q", code, body, resp.StatusCode, want)
		}
	})
}
