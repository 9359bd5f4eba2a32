package h1

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
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
