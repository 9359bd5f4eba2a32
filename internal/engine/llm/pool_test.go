package llm

import (
	"sync/atomic"
	"testing"
)

func TestPoolRunsEveryPart(t *testing.T) {
	for _, n := range []int{1, 2, 5} {
		p := newPool(n)
		var hits [5]atomic.Int32
		for range 100 {
			p.parallel(func(w int) { hits[w].Add(1) })
		}
		p.close()
		for w := range 5 {
			want := int32(0)
			if w < n {
				want = 100
			}
			if got := hits[w].Load(); got != want {
				t.Fatalf("pool of %d: part %d ran %d times, want %d", n, w, got, want)
			}
		}
	}
}

// BenchmarkPoolParallel measures the cost of one parallel call that does
// no work: the synchronisation a forward pass pays per kernel.
func BenchmarkPoolParallel(b *testing.B) {
	p := newPool(2)
	defer p.close()
	for b.Loop() {
		p.parallel(func(int) {})
	}
}
