package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"strata/internal/audit"
	"strata/internal/config"
)

const auditHelp = `usage: strata audit verify [flags]

Walks the audit trail and checks every node's hash chain: each event's hash
matches its content, follows the previous event's hash, and no sequence
number is missing. Exits non-zero at the first break.

flags:
`

func runAudit(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(os.Stderr, auditHelp)
		return errors.New("usage: strata audit verify")
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, auditHelp); fs.PrintDefaults() }
	dataDir := fs.String("data-dir", config.Default.DataDir, "data directory")
	metadataURL := fs.String("metadata-url", "", "postgres:// URL of a shared metadata database (default: SQLite in the data dir)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	st, err := openMetadata(ctx, *dataDir, *metadataURL)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := audit.Verify(ctx, st)
	if err != nil {
		return err
	}
	fmt.Printf("audit trail intact: %d events", r.Events)
	for node, n := range r.Nodes {
		fmt.Printf(", node %s: %d", node, n)
	}
	fmt.Println()
	return nil
}
