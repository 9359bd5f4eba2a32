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
	srv := httptest.NewServer(http.HandlerFunc(streamOne))
	defer srv.Close()
	h1c := &http.Client{Transport: &Transport{}}
	stdc := &http.Client{Transport: &http.Transport{}}
	alternate(b, "h1-µs", func() time.Duration { return post(b, h1c, srv.URL) },
		"nethttp-µs", func() time.Duration { return post(b, stdc, srv.URL) })
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
	client := &http.Client{Transport: &Transport{}}
	alternate(b, "h1-µs", func() time.Duration { return post(b, client, ours) },
		"nethttp-µs", func() time.Duration { return post(b, client, std) })
}

// alternate runs x and y in turn for the benchmark's iterations and
// reports the median time of each, in µs, under its name.
func alternate(b *testing.B, xName string, x func() time.Duration, yName string, y func() time.Duration) {
	var xs, ys []time.Duration
	for b.Loop() {
		xs = append(xs, x())
		ys = append(ys, y())
	}
	slices.Sort(xs)
	slices.Sort(ys)
	b.ReportMetric(float64(xs[len(xs)/2])/1e3, xName)
	b.ReportMetric(float64(ys[len(ys)/2])/1e3, yName)
}

// post sends the benchmarks' request (a one-token streamed generation) and
// returns how long the whole reply took.
func post(b *testing.B, c *http.Client, url string) time.Duration {
	t := time.Now()
	resp, err := c.Post(url, "application/json", bytes.NewReader([]byte(`{"model":"m","prompt":"hello","max_tokens":1,"stream":true}`)))
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(t)
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
