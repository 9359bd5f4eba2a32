package upstream

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"

	"strata/internal/engine"
	"strata/internal/engine/upstream/upstreamtest"
)

// TestConnectionsReused checks that consecutive generations share one
// keep-alive connection to the upstream: a stream read to its [DONE] must
// leave the connection reusable, or every request pays for a new one.
func TestConnectionsReused(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts upstreamtest.OpenAIOptions
	}{
		{"done", upstreamtest.OpenAIOptions{}},
		{"no-done", upstreamtest.OpenAIOptions{NoDone: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := upstreamtest.NewOpenAIServer(tc.opts)
			defer srv.Close()
			o := newOpenAI(t, srv, nil)
			var fresh atomic.Int32
			ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
				GotConn: func(info httptrace.GotConnInfo) {
					if !info.Reused {
						fresh.Add(1)
					}
				},
			})
			for range 20 {
				if _, err := o.Generate(ctx, promptReq(t, 3), func(engine.Token) error { return nil }); err != nil {
					t.Fatal(err)
				}
			}
			if n := fresh.Load(); n != 1 {
				t.Errorf("20 generations opened %d connections, want 1", n)
			}
		})
	}
}

// TestDoneThenHold checks that a server which sends [DONE] and then holds
// the reply open costs a request at most drainWait, not a hang.
func TestDoneThenHold(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"choices":[{"index":0,"text":"hi","finish_reason":"stop"}]}`+"\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	// The default client (h1's transport) and net/http's.
	for _, client := range []*http.Client{nil, {Transport: &http.Transport{}}} {
		o, err := NewOpenAI(Config{BaseURL: srv.URL, Model: "m", ProbeInterval: -1, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		start := time.Now()
		res, err := o.Generate(t.Context(), promptReq(t, 3), func(engine.Token) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != "hi" {
			t.Errorf("text %q, want %q", res.Text, "hi")
		}
		if d := time.Since(start); d > 10*drainWait {
			t.Errorf("Generate took %v against a server holding the reply open", d)
		}
	}
}
