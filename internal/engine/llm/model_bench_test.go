package llm

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Shapes of llama2.c's stories models, for benchmarks on random weights.
var (
	stories15M  = Config{Dim: 288, Hidden: 768, Layers: 6, Heads: 6, KVHeads: 6, HeadDim: 48, Vocab: 32000, MaxSeq: 256, NormEps: 1e-5, TiedOutput: true}
	stories110M = Config{Dim: 768, Hidden: 2048, Layers: 12, Heads: 12, KVHeads: 12, HeadDim: 64, Vocab: 32000, MaxSeq: 1024, NormEps: 1e-5, TiedOutput: true}
)

// BenchmarkDecode measures one decode step (one token of one sequence) at
// the stories shapes; the context grows to 128 tokens and restarts.
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{{"stories15M", stories15M}, {"stories110M", stories110M}} {
		for _, threads := range []int{1, 2} {
			for _, q8 := range []bool{false, true} {
				b.Run(fmt.Sprintf("%s/threads-%d/int8-%v", bc.name, threads, q8), func(b *testing.B) {
					w := randomWeights(bc.cfg, 1)
					if q8 {
						w.Quantize()
					}
					m, err := NewModel(bc.cfg, w, threads, nil)
					if err != nil {
						b.Fatal(err)
					}
					defer m.Close()
					c := m.NewCache(128)
					tok := 1
					cpu0 := cpuTime()
					for b.Loop() {
						if c.Len() == 128 {
							c = m.NewCache(128)
						}
						if _, err := m.Forward(c, []int{tok}); err != nil {
							b.Fatal(err)
						}
						tok = (tok*31 + 7) % bc.cfg.Vocab
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
					b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "tok/cpu-s")
				})
			}
		}
	}
}

// BenchmarkBatchStep measures decode steps of n sequences joined in one
// forward pass at the stories shapes, with each vector kernel set this CPU
// has (the portable Go one is left out: it is only a fallback). tok/s
// counts every sequence's token; the contexts grow to 64 and restart.
func BenchmarkBatchStep(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{{"stories15M", stories15M}, {"stories110M", stories110M}} {
		w := randomWeights(bc.cfg, 1)
		for _, threads := range []int{1, 2} {
			for _, n := range []int{1, 8} {
				for _, path := range kernelPaths()[1:] {
					b.Run(fmt.Sprintf("%s/threads-%d/seqs-%d/%s", bc.name, threads, n, path), func(b *testing.B) {
						useKernels(b, path)
						m, err := NewModel(bc.cfg, w, threads, nil)
						if err != nil {
							b.Fatal(err)
						}
						defer m.Close()
						batch := make([]Seq, n)
						for i := range batch {
							batch[i] = Seq{Cache: m.NewCache(64), Tokens: []int{i + 1}, Logits: make([]float32, bc.cfg.Vocab)}
						}
						cpu0 := cpuTime()
						for b.Loop() {
							if batch[0].Cache.Len() == 64 {
								for i := range batch {
									batch[i].Cache = m.NewCache(64)
								}
							}
							if err := m.ForwardBatch(batch); err != nil {
								b.Fatal(err)
							}
							for i := range batch {
								batch[i].Tokens[0] = (batch[i].Tokens[0]*31 + 7) % bc.cfg.Vocab
							}
						}
						b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
						b.ReportMetric(float64(n*b.N)/(cpuTime()-cpu0).Seconds(), "tok/cpu-s")
					})
				}
			}
		}
	}
}
