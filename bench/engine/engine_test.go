// Package enginebench holds the built-in engine's benchmarks at the exact
// shapes of llama2.c's stories15M and stories110M (random F32 weights from
// internal/modelgen). README.md says how to reproduce each figure, side by
// side with llama2.c's run.c.
package enginebench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"strata/internal/convert"
	"strata/internal/engine"
	"strata/internal/engine/llm"
	"strata/internal/guard"
	"strata/internal/modelgen"
	"strata/internal/tokenizer"
)

var (
	modelsMu sync.Mutex
	models   = map[string]string{}
)

// modelDir generates the named shape once per process into a temporary
// folder (removed when the process exits).
func modelDir(b *testing.B, shape string) string {
	b.Helper()
	modelsMu.Lock()
	defer modelsMu.Unlock()
	if d, ok := models[shape]; ok {
		return d
	}
	spec := map[string]modelgen.Spec{"15M": modelgen.Stories15M(), "110M": modelgen.Stories110M()}[shape]
	dir, err := os.MkdirTemp("", "enginebench-"+shape)
	if err != nil {
		b.Fatal(err)
	}
	if err := modelgen.Generate(dir, spec); err != nil {
		b.Fatal(err)
	}
	models[shape] = dir
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range models {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func prompt(b *testing.B, s string) guard.Text {
	t, _, err := guard.Mask(s)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkDecode measures single-stream generation end to end through
// the engine (temperature 1, as the run.c comparison uses): 200 tokens
// from a two-word prompt per iteration; tok/s counts generated tokens.
func BenchmarkDecode(b *testing.B) {
	for _, shape := range []string{"15M", "110M"} {
		for _, threads := range []int{1, 2} {
			for _, q8 := range []bool{false, true} {
				name := fmt.Sprintf("%s/threads-%d/%s", shape, threads, map[bool]string{false: "f32", true: "int8"}[q8])
				b.Run(name, func(b *testing.B) {
					e, err := llm.Open(modelDir(b, shape), llm.LoadOptions{Threads: threads, Int8: q8}, llm.Options{MaxSeqs: 1})
					if err != nil {
						b.Fatal(err)
					}
					defer e.Close()
					seed := int64(42)
					req := engine.Request{Prompt: prompt(b, "hello world"), MaxTokens: 200, Temperature: 1, Seed: &seed}
					tokens := 0
					cpu0 := cpuTime()
					for b.Loop() {
						res, err := e.Generate(context.Background(), req, func(engine.Token) error { return nil })
						if err != nil {
							b.Fatal(err)
						}
						tokens += res.OutputTokens
					}
					tps := float64(tokens) / b.Elapsed().Seconds()
					b.ReportMetric(tps, "tok/s")
					// Tokens per second of CPU time (user+system) is steadier
					// than wall time on a shared machine.
					b.ReportMetric(float64(tokens)/(cpuTime()-cpu0).Seconds(), "tok/cpu-s")
					m := e.Model()
					b.ReportMetric(float64(m.Weights.Bytes(&m.Config))/1e6, "MB/tok")
				})
			}
		}
	}
}

// BenchmarkStreams measures aggregate generation speed with n concurrent
// requests (64 tokens each, greedy) joined by continuous batching.
func BenchmarkStreams(b *testing.B) {
	for _, shape := range []string{"15M", "110M"} {
		for _, threads := range []int{1, 2} {
			for _, n := range []int{1, 8} {
				b.Run(fmt.Sprintf("%s/threads-%d/streams-%d", shape, threads, n), func(b *testing.B) {
					e, err := llm.Open(modelDir(b, shape), llm.LoadOptions{Threads: threads}, llm.Options{MaxSeqs: n})
					if err != nil {
						b.Fatal(err)
					}
					defer e.Close()
					var mu sync.Mutex
					tokens := 0
					cpu0 := cpuTime()
					for b.Loop() {
						var wg sync.WaitGroup
						for i := range n {
							wg.Go(func() {
								seed := int64(i)
								req := engine.Request{Prompt: prompt(b, fmt.Sprintf("stream %d says", i)), MaxTokens: 64, Temperature: 1, Seed: &seed}
								res, err := e.Generate(context.Background(), req, func(engine.Token) error { return nil })
								if err != nil {
									b.Error(err)
								}
								mu.Lock()
								tokens += res.OutputTokens
								mu.Unlock()
							})
						}
						wg.Wait()
					}
					b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
					b.ReportMetric(float64(tokens)/(cpuTime()-cpu0).Seconds(), "tok/cpu-s")
				})
			}
		}
	}
}

// BenchmarkPrefill measures reading a 256-token prompt (two chunks of 128
// tokens, each one batched forward pass).
func BenchmarkPrefill(b *testing.B) {
	for _, shape := range []string{"15M", "110M"} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads-%d", shape, threads), func(b *testing.B) {
				m, err := llm.LoadModel(modelDir(b, shape), llm.LoadOptions{Threads: threads})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				toks := make([]int, 256)
				for i := range toks {
					toks[i] = 3 + (i*7919)%(m.Config.Vocab-3)
				}
				cpu0 := cpuTime()
				for b.Loop() {
					if _, err := m.Forward(m.NewCache(256), toks); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "tok/s")
				b.ReportMetric(float64(256*b.N)/(cpuTime()-cpu0).Seconds(), "tok/cpu-s")
			})
		}
	}
}

// BenchmarkCopyBandwidth measures memory bandwidth with copy() of 256 MiB
// (far beyond the caches): "GB/s" counts bytes read plus bytes written.
func BenchmarkCopyBandwidth(b *testing.B) {
	const n = 256 << 20
	src, dst := make([]byte, n), make([]byte, n)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src)
	for b.Loop() {
		copy(dst, src)
	}
	b.ReportMetric(2*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// BenchmarkInt8Perplexity reports the perplexity of a fixed text
// (testdata/story.txt, a TinyStories-style paragraph written for this)
// under stories260K, a real trained model, with F32 and with int8 weights.
// Perplexity on random weights would mean nothing, hence the real model.
func BenchmarkInt8Perplexity(b *testing.B) {
	shared := sharedModels(b)
	dir := filepath.Join(b.TempDir(), "stories260K")
	src := filepath.Join(shared, "stories260K")
	if err := convert.Llama2C(b.Context(), filepath.Join(src, "stories260K.bin"), filepath.Join(src, "tok512.bin"), dir, convert.Options{}); err != nil {
		b.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	story, err := os.ReadFile("testdata/story.txt")
	if err != nil {
		b.Fatal(err)
	}
	ids := tok.Encode(string(story), true)
	var ppl [2]float64
	for b.Loop() {
		for i, q8 := range []bool{false, true} {
			m, err := llm.LoadModel(dir, llm.LoadOptions{Threads: 1, Int8: q8})
			if err != nil {
				b.Fatal(err)
			}
			ppl[i] = perplexity(b, m, ids)
			m.Close()
		}
	}
	b.ReportMetric(ppl[0], "ppl-f32")
	b.ReportMetric(ppl[1], "ppl-int8")
	b.ReportMetric(100*(ppl[1]-ppl[0])/ppl[0], "%delta")
	b.ReportMetric(float64(len(ids)), "tokens")
}

// perplexity returns exp of the mean negative log-likelihood of ids[1:].
func perplexity(b *testing.B, m *llm.Model, ids []int) float64 {
	v := m.Config.Vocab
	c := m.NewCache(len(ids))
	var nll float64
	for start := 0; start < len(ids)-1; start += m.Chunk {
		end := min(start+m.Chunk, len(ids)-1)
		logits := make([]float32, (end-start)*v)
		if err := m.ForwardBatch([]llm.Seq{{Cache: c, Tokens: ids[start:end], Logits: logits, AllLogits: true}}); err != nil {
			b.Fatal(err)
		}
		for i := start; i < end; i++ {
			row := logits[(i-start)*v : (i-start+1)*v]
			mx := math.Inf(-1)
			for _, x := range row {
				mx = math.Max(mx, float64(x))
			}
			var sum float64
			for _, x := range row {
				sum += math.Exp(float64(x) - mx)
			}
			nll -= float64(row[ids[i+1]]) - mx - math.Log(sum)
		}
	}
	return math.Exp(nll / float64(len(ids)-1))
}

// cpuTime returns the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sharedModels finds shared/models beside the repository.
func sharedModels(b *testing.B) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "shared", "DESIGN.md")); err == nil {
			return filepath.Join(dir, "shared", "models")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			b.Skip("no shared/ beside the repository")
		}
		dir = parent
	}
}
