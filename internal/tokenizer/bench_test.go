package tokenizer

import (
	"os"
	"testing"
)

// benchText is the first 64 KiB of banking77's test queries (real
// customer-support text), the engine's typical input.
func benchText(b *testing.B) string {
	data, err := os.ReadFile(sharedPath(b, "data", "banking77", "test.csv"))
	if err != nil {
		b.Fatal(err)
	}
	return string(data[:64<<10])
}

// benchEncode measures Encode with a warm word cache ("warm", the steady
// state of a server) and with the cache emptied before each call ("cold").
func benchEncode(b *testing.B, tok *Tokenizer) {
	text := benchText(b)
	for _, warm := range []bool{true, false} {
		name := "cold"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			n := 0
			for b.Loop() {
				if !warm {
					tok.cacheMu.Lock()
					clear(tok.cache)
					tok.cacheMu.Unlock()
				}
				n = len(tok.Encode(text, true))
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	b.Run("llama2-spm", func(b *testing.B) {
		benchEncode(b, loadFile(b, sharedPath(b, "models", "llama2-tokenizer", "tokenizer.model")))
	})
	b.Run("mistral-json", func(b *testing.B) {
		benchEncode(b, loadFile(b, sharedPath(b, "models", "mistral-7b-v0.1", "tokenizer.json")))
	})
	b.Run("llama3-json", func(b *testing.B) {
		p := os.Getenv(llama3Env)
		if p == "" {
			b.Skipf("%s not set", llama3Env)
		}
		benchEncode(b, loadFile(b, p))
	})
}

func BenchmarkDecodeStream(b *testing.B) {
	tok := loadFile(b, sharedPath(b, "models", "llama2-tokenizer", "tokenizer.model"))
	text := benchText(b)
	ids := tok.Encode(text, true)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		d := tok.NewStreamDecoder()
		for _, id := range ids {
			d.Next(id)
		}
		d.Flush()
	}
}
