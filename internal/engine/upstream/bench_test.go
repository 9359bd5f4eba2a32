package upstream

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"strata/internal/engine"
	"strata/internal/engine/upstream/upstreamtest"
)

// BenchmarkOpenAI compares a streamed chat generation (17 tokens) through
// the engine with the same request sent and read directly, both against
// one loopback server, so the difference is the engine's own cost.
func BenchmarkOpenAI(b *testing.B) {
	srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{})
	defer srv.Close()
	o := newOpenAI(b, srv, nil)
	req := chatReq(b, 64)
	_, body, err := o.body(req)
	if err != nil {
		b.Fatal(err)
	}
	client := newHTTPClient()
	direct := func() error {
		resp, err := client.Post(srv.BaseURL()+"/chat/completions", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	viaEngine := func() error {
		_, err := o.Generate(b.Context(), req, func(engine.Token) error { return nil })
		return err
	}
	// Interleaved, so load on the shared machine hits both alike; the
	// medians are reported.
	b.Run("interleaved", func(b *testing.B) {
		var d, e []time.Duration
		for b.Loop() {
			t0 := time.Now()
			if err := direct(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := viaEngine(); err != nil {
				b.Fatal(err)
			}
			d, e = append(d, t1.Sub(t0)), append(e, time.Since(t1))
		}
		md, me := median(d), median(e)
		b.ReportMetric(float64(md.Microseconds()), "direct-µs")
		b.ReportMetric(float64(me.Microseconds()), "engine-µs")
		b.ReportMetric(float64((me - md).Microseconds()), "added-µs")
	})
	b.Run("engine-parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := viaEngine(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkBedrockConverseStream measures a streamed Converse generation
// (17 tokens) through the engine against a loopback Bedrock server.
func BenchmarkBedrockConverseStream(b *testing.B) {
	srv := upstreamtest.NewBedrockServer(upstreamtest.BedrockOptions{})
	defer srv.Close()
	e := newBedrock(b, srv, nil)
	req := chatReq(b, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Generate(b.Context(), req, func(engine.Token) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
