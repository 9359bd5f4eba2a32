package upstream

import (
	"net/http/httptrace"
	"sync/atomic"
	"testing"

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
