package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"strata/internal/engine"
	"strata/internal/engine/llm"
	"strata/internal/guard"
)

const generateHelp = `usage: strata generate --model-dir DIR --prompt TEXT [flags]

Generate a continuation of TEXT with the built-in engine and stream it to
standard output: the quickest way to try a Hugging Face model folder
(config.json, safetensors weights, tokenizer). Timing goes to standard
error.

The prompt is local text typed by the operator, but it still goes through
the guard: card data in it is masked (guard.Mask) before the model sees
it, and the output is scanned and masked as it streams.

flags:
`

// runGenerate implements "strata generate".
func runGenerate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), generateHelp)
		fs.PrintDefaults()
	}
	modelDir := fs.String("model-dir", "", "Hugging Face model folder (required)")
	prompt := fs.String("prompt", "", "prompt text; empty starts from BOS")
	maxTokens := fs.Int("max-tokens", 256, "most tokens to generate")
	temperature := fs.Float64("temperature", 0, "sampling temperature; 0 is greedy")
	topP := fs.Float64("top-p", 0, "nucleus sampling threshold; 0 or 1 is off")
	topK := fs.Int("top-k", 0, "sample among the K likeliest tokens; 0 is off")
	seed := fs.Int64("seed", 0, "random seed (default: random)")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "kernel goroutines")
	int8 := fs.Bool("int8", false, "quantize weights to int8 at load")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *modelDir == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("generate: --model-dir is required and there are no positional arguments")
	}
	text, found, err := guard.Mask(*prompt)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if len(found) > 0 {
		fmt.Fprintf(os.Stderr, "[masked %d sensitive value(s) in the prompt]\n", len(found))
	}
	req := engine.Request{Prompt: text, MaxTokens: *maxTokens, Temperature: *temperature, TopP: *topP, TopK: *topK}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			req.Seed = seed
		}
	})

	start := time.Now()
	e, err := llm.Open(*modelDir, llm.LoadOptions{Threads: *threads, Int8: *int8}, llm.Options{MaxSeqs: 1})
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	defer e.Close()
	loaded := time.Now()
	out := guard.NewStream()
	write := func(s string) error {
		_, err := io.WriteString(os.Stdout, s)
		return err
	}
	var first time.Time
	res, err := e.Generate(ctx, req, func(t engine.Token) error {
		if first.IsZero() {
			first = time.Now()
		}
		s, err := out.Write(t.Text)
		if err != nil {
			return err
		}
		return write(s)
	})
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	rest, err := out.Close()
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if err := write(rest + "\n"); err != nil {
		return err
	}
	end := time.Now()
	fmt.Fprintf(os.Stderr, "[load %v; %d prompt + %d generated tokens, stop: %s", loaded.Sub(start).Round(time.Millisecond),
		res.InputTokens, res.OutputTokens, res.StopReason)
	if res.OutputTokens > 1 && !first.IsZero() {
		fmt.Fprintf(os.Stderr, "; first token after %v, then %.1f tok/s", first.Sub(loaded).Round(time.Millisecond),
			float64(res.OutputTokens-1)/end.Sub(first).Seconds())
	}
	fmt.Fprintln(os.Stderr, "]")
	return nil
}
