package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"strata/internal/convert"
)

const convertHelp = `usage: strata convert <format> [flags]

Convert a checkpoint into a Hugging Face model folder that 'strata import'
accepts. The output folder must not exist or be empty; it appears only
when the conversion is complete and validated.

formats:
  llama2c  --checkpoint F --tokenizer T --out DIR
           a llama2.c legacy checkpoint (e.g. stories260K.bin) and its
           tokenizer.bin -> LlamaForCausalLM (F32, tokenizer.model)
  mistral  --in DIR --out DIR
           Mistral's own folder (params.json, consolidated*.safetensors,
           tokenizer.model) -> MistralForCausalLM or MixtralForCausalLM,
           as transformers' convert_mistral_weights_to_hf.py does

common flags:
  --max-shard-bytes N   cap on each output safetensors file (default 5000000000)
`

func runConvert(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, convertHelp)
		if len(args) == 0 {
			return errors.New("missing format")
		}
		return nil
	}
	format, args := args[0], args[1:]
	fs := flag.NewFlagSet("convert "+format, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, convertHelp) }
	out := fs.String("out", "", "output model folder (required)")
	maxShard := fs.Int64("max-shard-bytes", convert.DefaultMaxShardBytes, "cap on each output safetensors file's size")
	var checkpoint, tokenizer, in *string
	switch format {
	case "llama2c":
		checkpoint = fs.String("checkpoint", "", "llama2.c legacy checkpoint (required)")
		tokenizer = fs.String("tokenizer", "", "llama2.c tokenizer.bin (required)")
	case "mistral":
		in = fs.String("in", "", "Mistral model folder (required)")
	default:
		fmt.Fprint(os.Stderr, convertHelp)
		return fmt.Errorf("unknown format %q", format)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	opts := convert.Options{
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "convert"),
		MaxShardBytes: *maxShard,
	}
	switch format {
	case "llama2c":
		if *checkpoint == "" || *tokenizer == "" {
			return errors.New("--checkpoint and --tokenizer are required")
		}
		if err := convert.Llama2C(ctx, *checkpoint, *tokenizer, *out, opts); err != nil {
			return err
		}
	case "mistral":
		if *in == "" {
			return errors.New("--in is required")
		}
		if err := convert.Mistral(ctx, *in, *out, opts); err != nil {
			return err
		}
	}
	fmt.Println(*out)
	return nil
}
