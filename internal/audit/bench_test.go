package audit

import (
	"testing"
)

// BenchmarkFlush appends and writes 250 invocation events at a time, as a
// busy node's 100 ms flush does, into SQLite.
func BenchmarkFlush(b *testing.B) {
	st := newStore(b)
	tr, err := Open(b.Context(), st, "n", nil)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 250
	b.ReportAllocs()
	for b.Loop() {
		for range batch {
			tr.Append(Event{RequestID: "3f1c2a9e-7d4b-4c1e-9f5a-2b8d6e0a1c3f", Principal: "arn:aws:iam::000000000000:user/admin",
				Account: "000000000000", SourceIP: "127.0.0.1", API: "runtime", Operation: "InvokeModel",
				Resource: "arn:aws:bedrock:us-east-1:000000000000:imported-model/up", Outcome: "ok", InputTokens: 12, OutputTokens: 3, LatencyMS: 1})
		}
		if err := tr.Flush(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
}
