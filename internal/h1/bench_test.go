package h1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkRoundTrip compares this transport with net/http's on the same
// loopback server: a small POST answered by a four-event stream, the shape
// of a one-token generation. The two alternate, so load on the shared
// machine hits both alike; the medians are reported.
func BenchmarkRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{`{"text":"ok"}`, `{"finish_reason":"stop"}`, `{"usage":{}}`, `[DONE]`} {
			io.WriteString(w, "data: "+ev+"\n\n")
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	body := []byte(`{"model":"m","prompt":"hello","max_tokens":1,"stream":true}`)
	send := func(c *http.Client) time.Duration {
		t := time.Now()
		resp, err := c.Post(srv.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t)
	}
	h1c := &http.Client{Transport: &Transport{}}
	stdc := &http.Client{Transport: &http.Transport{}}
	var h, s []time.Duration
	for b.Loop() {
		h = append(h, send(h1c))
		s = append(s, send(stdc))
	}
	slices.Sort(h)
	slices.Sort(s)
	b.ReportMetric(float64(h[len(h)/2])/1e3, "h1-µs")
	b.ReportMetric(float64(s[len(s)/2])/1e3, "nethttp-µs")
}

// BenchmarkServe compares Server with net/http's server: the same handler
// (read a small POST, answer with a four-event stream) behind each, each in
// a process of its own as in a deployment, called by the same client (this
// package's transport), alternating; medians reported. (In one process the
// two cost the same, about 58 µs here: what Server saves is wake-ups of a
// process that has gone to sleep between requests.)
func BenchmarkServe(b *testing.B) {
	ours := serverProcess(b, "h1")
	std := serverProcess(b, "net/http")
	body := []byte(`{"model":"m","prompt":"hello","max_tokens":1,"stream":true}`)
	client := &http.Client{Transport: &Transport{}}
	send := func(url string) time.Duration {
		t := time.Now()
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t)
	}
	var o, s []time.Duration
	for b.Loop() {
		o = append(o, send(ours))
		s = append(s, send(std))
	}
	slices.Sort(o)
	slices.Sort(s)
	b.ReportMetric(float64(o[len(o)/2])/1e3, "h1-µs")
	b.ReportMetric(float64(s[len(s)/2])/1e3, "nethttp-µs")
}

func streamOne(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	for _, ev := range []string{`{"text":"ok"}`, `{"finish_reason":"stop"}`, `{"usage":{}}`, `[DONE]`} {
		io.WriteString(w, "data: "+ev+"\n\n")
		w.(http.Flusher).Flush()
	}
}

// serverProcess runs this test binary as a server of the kind given (see
// TestServeProcess) and returns its base URL; it stops with the benchmark.
func serverProcess(b *testing.B, kind string) string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeProcess$")
	cmd.Env = append(os.Environ(), "H1_SERVE_PROCESS="+kind)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(line)
}

// TestServeProcess is BenchmarkServe's server process; run as a test, it
// does nothing.
func TestServeProcess(t *testing.T) {
	kind := os.Getenv("H1_SERVE_PROCESS")
	if kind == "" {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if kind == "h1" {
		go (&Server{Handler: http.HandlerFunc(streamOne)}).Serve(ln)
	} else {
		go http.Serve(ln, http.HandlerFunc(streamOne))
	}
	fmt.Printf("http://%s/\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
}
