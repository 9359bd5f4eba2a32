package h1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// dumpRequest is the handler both servers run in FuzzServer: it answers
// with everything it was given. Words in the path change what it does:
// "noread" leaves the body unread, "big" adds 3,000 bytes to the reply,
// "flush" flushes the reply before the end.
func dumpRequest(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if strings.Contains(r.URL.Path, "big") {
			io.WriteString(w, strings.Repeat("b", 3000))
		}
	}()
	if strings.Contains(r.URL.Path, "flush") {
		defer w.(http.Flusher).Flush()
	}
	var body []byte
	var err error
	if !strings.Contains(r.URL.Path, "noread") {
		body, err = io.ReadAll(r.Body)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q %s host=%q length=%d te=%q close=%v\n", r.Method, r.RequestURI, r.Proto, r.Host, r.ContentLength, r.TransferEncoding, r.Close)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %q\n", k, r.Header[k])
	}
	fmt.Fprintf(&b, "body %q error %v\n", body, err != nil)
	io.WriteString(w, b.String())
}

var fuzzServers struct {
	once        sync.Once
	ours, netws string
}

// exchange sends raw on a new connection, half-closes it, and returns the
// replies read until the server closes it, each as "status\nbody".
func exchange(t *testing.T, addr string, raw []byte) []string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		c.Write(raw)
		c.(*net.TCPConn).CloseWrite()
	}()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var out []string
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if _, err := br.Peek(1); err == nil {
				out = append(out, "unparsable reply")
			}
			return out
		}
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			out = append(out, fmt.Sprintf("%d\n%s%v", resp.StatusCode, body, err != nil))
		} else {
			// Refusals: the status, not the wording.
			out = append(out, fmt.Sprint(resp.StatusCode))
		}
	}
}

// FuzzServer checks the server against net/http's on the same bytes: the
// same replies, in the same order, with the handler seeing the same
// request (method, target, host, headers, body).
func FuzzServer(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x?y=1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-A: 2\r\n\r\nGET /z HTTP/1.1\r\nHost: b\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz",
		"GET http://h/abs HTTP/1.1\r\nHost: other\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nhost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("v", 5000) + "\r\n\r\n",
		"POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcdeGET /big HTTP/1.1\r\nHost: a\r\n\r\n",
		"PUT /noread/flush HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nxyzGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /big/flush HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nHEAD /big HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fuzzServers.once.Do(func() {
			h := http.HandlerFunc(dumpRequest)
			start := func(serve func(net.Listener)) string {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				go serve(ln)
				return ln.Addr().String()
			}
			fuzzServers.ours = start(func(ln net.Listener) {
				(&Server{Handler: h, MaxHeaderBytes: 4096}).Serve(ln)
			})
			fuzzServers.netws = start(func(ln net.Listener) {
				(&http.Server{Handler: h, MaxHeaderBytes: 4096, ErrorLog: nil}).Serve(ln)
			})
		})
		want := exchange(t, fuzzServers.netws, raw)
		for i, r := range want {
			if strings.HasPrefix(r, "200\nPRI \"*\" HTTP/2.0 ") {
				// net/http hands this request to the handler, for handlers
				// that upgrade to HTTP/2 themselves; h1 refuses it and
				// closes (a Server with HTTP2 set passes the preface on).
				want = append(want[:i], "505")
				break
			}
		}
		got := exchange(t, fuzzServers.ours, raw)
		if !slices.Equal(got, want) {
			t.Fatalf("input %q\nnet/http: %q\nh1:       %q", raw, want, got)
		}
	})
}

// TestFuzzSeedsTouchEveryPath is a sanity check on the differential: the
// seeds must include accepted and refused requests, or the comparison
// proves little.
func TestFuzzSeedsTouchEveryPath(t *testing.T) {
	addr, _ := startServer(t, http.HandlerFunc(dumpRequest))
	ok := exchange(t, addr, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	bad := exchange(t, addr, []byte("GET / HTTP/1.1\r\n\r\n"))
	if len(ok) != 1 || !strings.HasPrefix(ok[0], "200\n") || len(bad) != 1 || bad[0] != "400" {
		t.Fatalf("ok %q, bad %q", ok, bad)
	}
	if !bytes.Contains([]byte(ok[0]), []byte(`host="a"`)) {
		t.Fatalf("dump %q", ok[0])
	}
}
