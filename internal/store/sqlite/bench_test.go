package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	"strata/internal/store"
)

// BenchmarkApply writes batches of 250 records in one transaction, as the
// audit trail's flush does.
func BenchmarkApply(b *testing.B) {
	db, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const batch = 250
	data := []byte(`{"seq":1,"node":"n","action":"bedrock:InvokeModel","outcome":"ok"}`)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		ops := make([]store.Op, batch)
		for i := range ops {
			n++
			id := fmt.Sprintf("n/%016d", n)
			ops[i] = store.Op{Create: &store.Record{Kind: "bench", ID: id, Name: id, Status: "ok", Data: data}}
		}
		if err := db.Apply(b.Context(), ops); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}
