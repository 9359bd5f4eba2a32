// Command genmodel writes a random model at the exact shape of llama2.c's
// stories15M or stories110M twice, from the same seed and so with the same
// weights: as a Hugging Face folder for strata, and as a llama2.c
// checkpoint plus tokenizer.bin for run.c, for side-by-side benchmarks.
//
//	go run ./bench/engine/genmodel -shape 15M -out /tmp/s15
//
// writes /tmp/s15/hf/ (config.json, model.safetensors, tokenizer...),
// /tmp/s15/model.bin and /tmp/s15/tokenizer.bin.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"strata/internal/modelgen"
)

func main() {
	shape := flag.String("shape", "15M", "model shape: 15M or 110M")
	out := flag.String("out", "", "output folder (required)")
	flag.Parse()
	if err := run(*shape, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genmodel:", err)
		os.Exit(1)
	}
}

func run(shape, out string) error {
	var spec modelgen.Spec
	switch shape {
	case "15M":
		spec = modelgen.Stories15M()
	case "110M":
		spec = modelgen.Stories110M()
	default:
		return fmt.Errorf("unknown shape %q (want 15M or 110M)", shape)
	}
	if out == "" {
		return fmt.Errorf("-out is required")
	}
	if err := modelgen.Generate(filepath.Join(out, "hf"), spec); err != nil {
		return err
	}
	for name, write := range map[string]func(*os.File) error{
		"model.bin":     func(f *os.File) error { return modelgen.WriteLlama2C(f, spec) },
		"tokenizer.bin": func(f *os.File) error { return modelgen.WriteLlama2CTokenizer(f, spec) },
	} {
		f, err := os.Create(filepath.Join(out, name))
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
