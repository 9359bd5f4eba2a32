package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"strata/internal/audit"
	"strata/internal/config"
	"strata/internal/router"
	"strata/internal/store"
	"strata/internal/store/postgres"
	"strata/internal/store/sqlite"
)

const reportHelp = `usage: strata report cost [flags]

Totals what queries and invocations cost, from the audit trail: by tier,
by model and by cost-allocation tag (a tier's tag, or an inference
profile's tags). Support queries (POST /query) carry the cost the router
computed from the tiers' prices; direct invocations carry their token
counts (priced at 0 unless they came through a tier).

flags:
`

func runReport(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "cost" {
		fmt.Fprint(os.Stderr, reportHelp)
		return errors.New("the only report is: strata report cost")
	}
	fs := flag.NewFlagSet("report cost", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, reportHelp); fs.PrintDefaults() }
	dataDir := fs.String("data-dir", config.Default.DataDir, "data directory")
	metadataURL := fs.String("metadata-url", "", "postgres:// URL of a shared metadata database (default: SQLite in the data dir)")
	since := fs.Duration("since", 0, "only the last DURATION (e.g. 24h); 0 means everything")
	format := fs.String("format", "text", "text or json")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	st, err := openMetadata(ctx, *dataDir, *metadataURL)
	if err != nil {
		return err
	}
	defer st.Close()
	var from time.Time
	if *since > 0 {
		from = time.Now().Add(-*since)
	}
	var outcomes []router.Outcome
	err = audit.List(ctx, st, from, time.Time{}, func(e audit.Event) error {
		if o, ok := outcomeOf(e); ok {
			outcomes = append(outcomes, o)
		}
		return nil
	})
	if err != nil {
		return err
	}
	rep := router.Summarize(outcomes)
	if *format == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	for _, sec := range []struct {
		title string
		lines []router.Line
	}{{"tier", rep.ByTier}, {"model", rep.ByModel}, {"tag", rep.ByTag}, {"", []router.Line{rep.Total}}} {
		fmt.Fprintf(tw, "%s\trequests\tescalated\tinput tokens\toutput tokens\tcost USD\n", orTotal(sec.title))
		for _, l := range sec.lines {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.6f\n", orDash(l.Key), l.Requests, l.Escalated, l.InputTokens, l.OutputTokens, l.CostUSD)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func orTotal(s string) string {
	if s == "" {
		return "TOTAL"
	}
	return strings.ToUpper(s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// outcomeOf turns an audit event into a cost-report row: support queries,
// and direct model invocations (not the tier calls a query made, which
// its own event already counts).
func outcomeOf(e audit.Event) (router.Outcome, bool) {
	o := router.Outcome{RequestID: e.RequestID, Time: e.Time, Model: e.Model, InputTokens: e.InputTokens,
		OutputTokens: e.OutputTokens, CostUSD: e.CostUSD, Latency: time.Duration(e.LatencyMS) * time.Millisecond,
		Escalated: e.Escalated, Failed: e.Outcome != "ok", Tag: tagString(e.Tags)}
	switch {
	case e.API == "support":
		o.Tier = e.Tier
		return o, true
	case e.API == "runtime" && e.Operation != "query":
		o.Tier = "(direct)"
		return o, true
	}
	return o, false
}

func tagString(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}

// openMetadata opens the metadata store: PostgreSQL when url is set, else
// the data dir's SQLite file.
func openMetadata(ctx context.Context, dataDir, url string) (store.Store, error) {
	if url != "" {
		return postgres.Open(ctx, url)
	}
	path := filepath.Join(dataDir, "metadata.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no metadata database at %s (is --data-dir right?)", path)
	}
	return sqlite.Open(ctx, path)
}
