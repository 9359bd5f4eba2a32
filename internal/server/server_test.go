package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewRequestID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if !re.MatchString(id) {
			t.Fatalf("request id %q is not in the UUID layout", id)
		}
		if seen[id] {
			t.Fatalf("request id %q repeated", id)
		}
		seen[id] = true
	}
}

// TestServeChoosesHTTP1Server: plain HTTP/1.1 goes to h1's server unless
// StdlibHTTP1 asks for net/http's. The two differ on an HTTP/1.0 reply:
// h1 says Connection: close, net/http says nothing.
func TestServeChoosesHTTP1Server(t *testing.T) {
	for _, stdlib := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- Serve(ctx, ln, Options{StdlibHTTP1: stdlib, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ok")
			})})
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		reply, _ := io.ReadAll(c)
		c.Close()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(reply), "\r\n\r\nok") {
			t.Fatalf("stdlib=%v: reply %q", stdlib, reply)
		}
		if said := strings.Contains(string(reply), "Connection: close"); said == stdlib {
			t.Errorf("stdlib=%v: reply %q (h1 says Connection: close, net/http does not)", stdlib, reply)
		}
	}
}
