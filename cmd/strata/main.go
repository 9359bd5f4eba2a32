// Command strata is the private, PCI-ready model platform: one binary that
// serves imported models behind the Amazon Bedrock and OpenAI APIs.
//
// Each subcommand lives in its own file with its own flag.FlagSet and help
// text; main only dispatches.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: run parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands lists every subcommand. Each entry's run function is defined in
// the file named after it.
var commands = map[string]command{
	"version":  {"print the version", runVersion},
	"guard":    {"scan text for card data and PII (guard scan [--mask])", runGuard},
	"generate": {"generate text from a model folder with the built-in engine", runGenerate},
	"serve":    {"serve the Bedrock, STS and OpenAI APIs", runServe},
	"import":   {"import a Hugging Face model folder", runImport},
	"convert":  {"convert llama2.c or Mistral checkpoints to a Hugging Face folder", runConvert},
	"router":   {"train and evaluate the tier router", runRouter},
	"report":   {"report costs by tier, model and tag from the audit trail (report cost)", runReport},
	"audit":    {"verify the audit trail's hash chain (audit verify)", runAudit},
	"keys":     {"create, list and delete OpenAI API bearer keys (keys create|list|delete)", runKeys},
}

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

func runVersion(ctx context.Context, args []string) error {
	fmt.Println("strata", version)
	return nil
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: strata <command> [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'strata <command> -h' for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		return
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "strata: unknown command %q\n", name)
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cmd.run(ctx, os.Args[2:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "strata %s: %v\n", name, err)
		os.Exit(1)
	}
}
