package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"strata/internal/router"
	"strata/internal/router/eval"
)

const routerHelp = `usage: strata router <train|eval> [flags]

  train  fit the learned router on labelled queries and write a model file:
         strata router train --data train.csv --tiers tiers.csv --out router.model
  eval   evaluate a router (a model file, or "heuristic") on labelled queries:
         strata router eval --router router.model --data train.csv --tiers tiers.csv --format json
         or replay RouteLLM's per-prompt outcomes (weak vs strong model):
         strata router eval --replay shared/data/routellm_evals --dataset gsm8k

--data is CSV with columns text,category; --tiers is CSV with columns intent,tier[,tier_name]
(tier 1 = cheapest). Both commands carve the same deterministic, stratified validation split
(--holdout, --seed): train fits on the rest; eval --split val scores the validation split.
`

func runRouter(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, routerHelp)
		return errors.New("missing subcommand")
	}
	switch args[0] {
	case "train":
		return runRouterTrain(ctx, args[1:], os.Stdout)
	case "eval":
		return runRouterEval(ctx, args[1:], os.Stdout)
	case "-h", "--help", "help":
		fmt.Fprint(os.Stderr, routerHelp)
		return nil
	}
	fmt.Fprint(os.Stderr, routerHelp)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

// splitFlags are the validation-split flags shared by train and eval.
type splitFlags struct {
	holdout float64
	seed    uint64
}

func (s *splitFlags) register(fs *flag.FlagSet) {
	fs.Float64Var(&s.holdout, "holdout", 0.1, "share of each category carved out as the validation split (0 = none)")
	fs.Uint64Var(&s.seed, "seed", 1, "seed of the validation split and of training")
}

func runRouterTrain(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("router train", flag.ContinueOnError)
	data := fs.String("data", "", "labelled queries, CSV text,category (required)")
	tiers := fs.String("tiers", "", "intent to tier map, CSV intent,tier[,tier_name] (required)")
	outPath := fs.String("out", "", "model file to write (required)")
	oos := fs.String("oos", "", "CLINC150 data_full.json: train an out-of-scope (handoff) class from its oos_train and non-banking queries")
	oosDomains := fs.String("oos-keep-domains", "banking,credit_cards", "CLINC150 domains that are in scope (with --oos; domains.json beside data_full.json)")
	epochs := fs.Int("epochs", 0, "training epochs (0 = default 12)")
	bits := fs.Int("hash-bits", 0, "log2 of the hashed feature buckets (0 = default 16)")
	target := fs.Float64("target-under-routing", 0, "top-tier under-routing the top bound is chosen for on the calibration slice (0 = default 0.01)")
	targetHandoff := fs.Float64("target-false-handoff", 0, "share of in-scope calibration queries the out-of-scope bound may hand off (with --oos; 0 = default 0.0075)")
	oosBound := fs.Float64("oos-bound", 0, "fixed out-of-scope bound instead of one chosen on the calibration slice (0 = choose)")
	fits := fs.Int("fits", 0, "fits with successive seeds whose weights are averaged into the model: steadier across seeds, that many times the training time (0 = default 1; see bench/router/RESULTS.md)")
	var sp splitFlags
	sp.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" || *tiers == "" || *outPath == "" {
		return errors.New("--data, --tiers and --out are required")
	}
	ex, err := router.ReadExamplesFile(*data)
	if err != nil {
		return err
	}
	tm, err := router.ReadTierMapFile(*tiers)
	if err != nil {
		return err
	}
	train, val := router.Split(ex, sp.holdout, sp.seed)
	if *oos != "" {
		extra, err := readCLINC(*oos, "train", *oosDomains)
		if err != nil {
			return err
		}
		train = append(train, extra...)
	}
	opts := router.TrainOptions{
		Epochs: *epochs, Seed: sp.seed, TargetUnderRouting: *target,
		TargetFalseHandoff: *targetHandoff, OOSBound: *oosBound, Rules: router.DefaultRules(), Fits: *fits,
	}
	if *bits != 0 {
		opts.Features = router.DefaultFeatures
		opts.Features.HashBits = *bits
	}
	start := time.Now()
	m, err := router.Train(ctx, train, tm, opts)
	if err != nil {
		return err
	}
	took := time.Since(start)
	if err := router.SaveModel(*outPath, m); err != nil {
		return err
	}
	fmt.Fprintf(out, "trained on %d queries (%d held out for validation) in %s: %d classes, temperature %.3f, bounds %v, oos bound %v -> %s\n",
		len(train), len(val), took.Round(time.Millisecond), len(m.Classes), m.Temperature, m.Bounds, m.OOSBound, *outPath)
	return nil
}

func readCLINC(dataPath, part, keep string) ([]router.Example, error) {
	data, err := os.ReadFile(dataPath)
	if err != nil {
		return nil, err
	}
	domPath := strings.TrimSuffix(dataPath, "data_full.json") + "domains.json"
	doms, err := os.ReadFile(domPath)
	if err != nil {
		return nil, fmt.Errorf("reading CLINC150 domains: %w", err)
	}
	return router.ReadCLINCOutOfScope(data, doms, part, strings.Split(keep, ","))
}

// evalOutput is what eval prints: the report, plus the out-of-scope check
// when --oos-data is given.
type evalOutput struct {
	Data  string `json:"data"`
	Split string `json:"split"`
	eval.Report
	OutOfScope *oosReport `json:"out_of_scope,omitempty"`
}

type oosReport struct {
	// HandoffRecall is the share of CLINC150 oos_test queries handed off;
	// FalseHandoffs the share of the evaluated in-scope queries handed off.
	HandoffRecall eval.Interval `json:"handoff_recall"`
	FalseHandoffs eval.Interval `json:"false_handoffs"`
}

func runRouterEval(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("router eval", flag.ContinueOnError)
	routerArg := fs.String("router", "", `model file from "strata router train", or "heuristic"`)
	data := fs.String("data", "", "labelled queries, CSV text,category")
	tiers := fs.String("tiers", "", "intent to tier map, CSV intent,tier[,tier_name]")
	split := fs.String("split", "all", "which rows of --data: val (the carved validation split), train (the rest) or all")
	config := fs.String("config", "", "router YAML config for tier prices and bounds (default: laptop tiers, prices 1 : 5 : 30)")
	outTokens := fs.Int("output-tokens", 200, "answer tokens assumed per query when pricing")
	format := fs.String("format", "text", "json or text")
	oosData := fs.String("oos-data", "", "CLINC150 data_full.json: also report handoffs on its oos_test queries")
	replay := fs.String("replay", "", "RouteLLM evals folder: replay weak/strong routing instead")
	dataset := fs.String("dataset", "gsm8k", "replay dataset: gsm8k or mmlu")
	var sp splitFlags
	sp.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *format != "json" && *format != "text" {
		return fmt.Errorf("unknown --format %q", *format)
	}
	cfg := router.DefaultConfig()
	if *config != "" {
		b, err := os.ReadFile(*config)
		if err != nil {
			return err
		}
		if cfg, err = router.ParseConfig(b); err != nil {
			return err
		}
	}
	if *replay != "" {
		return runReplay(ctx, out, *replay, *dataset, cfg, sp.seed, *format)
	}
	if *routerArg == "" || *data == "" || *tiers == "" {
		return errors.New("--router, --data and --tiers are required (or --replay)")
	}
	ex, err := router.ReadExamplesFile(*data)
	if err != nil {
		return err
	}
	tm, err := router.ReadTierMapFile(*tiers)
	if err != nil {
		return err
	}
	train, val := router.Split(ex, sp.holdout, sp.seed)
	switch *split {
	case "val":
		ex = val
	case "train":
		ex = train
	case "all":
	default:
		return fmt.Errorf("unknown --split %q", *split)
	}
	if len(tm.Names) != len(cfg.Tiers) {
		return fmt.Errorf("tier map has %d tiers, config %d", len(tm.Names), len(cfg.Tiers))
	}
	cases, texts, skipped := eval.Cases(ex, tm, cfg.Tiers, *outTokens)
	if skipped > 0 {
		return fmt.Errorf("%d queries have a category missing from the tier map", skipped)
	}
	rules := router.Rules{}
	if cfg.Rules == nil || *cfg.Rules {
		rules = router.DefaultRules()
	}
	var sw eval.Sweeper
	var learned *router.Model
	if *routerArg == "heuristic" {
		sw = eval.NewHeuristic(rules, texts, len(cfg.Tiers))
	} else {
		if learned, err = router.LoadModel(*routerArg); err != nil {
			return err
		}
		if len(learned.Tiers) != len(cfg.Tiers) {
			return fmt.Errorf("model has %d tiers, config %d", len(learned.Tiers), len(cfg.Tiers))
		}
		sw = eval.NewLearned(learned, rules, cfg.Bounds, cfg.OOSBound, texts)
	}
	res := evalOutput{Data: *data, Split: *split, Report: eval.Run(cases, tm.Names, sw)}
	if *oosData != "" {
		var strat router.Strategy = router.Heuristic{}
		if learned != nil {
			strat = router.Learned{Model: learned, Bounds: cfg.Bounds, OOSBound: cfg.OOSBound}
		}
		r := router.NewWith(cfg.Tiers, rules, strat)
		raw, err := os.ReadFile(*oosData)
		if err != nil {
			return err
		}
		oos, err := router.ReadCLINCOutOfScope(raw, nil, "test", nil)
		if err != nil {
			return err
		}
		count := func(texts []string) int {
			k := 0
			for _, t := range texts {
				if r.Route(t).Handoff {
					k++
				}
			}
			return k
		}
		oosTexts := make([]string, len(oos))
		for i, e := range oos {
			oosTexts[i] = e.Text
		}
		res.OutOfScope = &oosReport{
			HandoffRecall: eval.Wilson(count(oosTexts), len(oosTexts)),
			FalseHandoffs: eval.Wilson(count(texts), len(texts)),
		}
	}
	return printEval(out, *format, res)
}

func printEval(out io.Writer, format string, res evalOutput) error {
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "router\t%s\ndata\t%s (%s, n=%d)\n", res.Router, res.Data, res.Split, res.N)
	fmt.Fprintf(tw, "tier_accuracy\t%.4f\nmacro_f1\t%.4f\n", res.TierAccuracy, res.MacroF1)
	u := res.TopTierUnderRouting
	fmt.Fprintf(tw, "top_tier_under_routing\t%.4f (%d/%d, 95%% CI %.4f-%.4f)\n", u.Rate, u.Count, u.N, u.Lo, u.Hi)
	fmt.Fprintf(tw, "cost_ratio\t%.4f (oracle %.4f)\nquality\t%.4f (random at same mix %.4f)\n", res.CostRatio, res.OracleCostRatio, res.Quality, res.RandomQuality)
	fmt.Fprintf(tw, "aiq\t%.4f\ncost for 95%% / 99%% quality\t%.4f / %.4f\n", res.AIQ, res.CostForQuality95, res.CostForQuality99)
	fmt.Fprintf(tw, "confusion (rows want %v)\t%v\n", res.Tiers, res.Confusion)
	if o := res.OutOfScope; o != nil {
		fmt.Fprintf(tw, "oos handoff recall\t%.4f (%d/%d)\nfalse handoffs\t%.4f (%d/%d)\n",
			o.HandoffRecall.Rate, o.HandoffRecall.Count, o.HandoffRecall.N, o.FalseHandoffs.Rate, o.FalseHandoffs.Count, o.FalseHandoffs.N)
	}
	return tw.Flush()
}

// runReplay replays weak/strong routing on RouteLLM's outcomes with the
// heuristic score, a cross-fitted learned router, random and oracle.
func runReplay(ctx context.Context, out io.Writer, dir, dataset string, cfg router.Config, seed uint64, format string) error {
	outs, err := eval.ReadReplay(dir, dataset)
	if err != nil {
		return err
	}
	heur := make([]float64, len(outs))
	for i, o := range outs {
		heur[i] = router.ComplexityScore(o.Prompt)
	}
	learned, err := eval.CrossFitScores(ctx, outs, 2, seed, router.TrainOptions{Seed: seed, CalibFrac: -1})
	if err != nil {
		return err
	}
	weak, strong := cfg.Tiers[0], cfg.Tiers[len(cfg.Tiers)-1]
	unit := func(t router.Tier) float64 { return router.Cost(t, 1000, 1000, 0) }
	rep := eval.Replay(dataset, outs, map[string][]float64{"heuristic": heur, "learned_2fold": learned}, unit(weak), unit(strong))
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "dataset\t%s (n=%d)\nweak / strong / oracle accuracy\t%.4f / %.4f / %.4f (oracle strong share %.4f)\n",
		rep.Dataset, rep.N, rep.WeakAccuracy, rep.StrongAccuracy, rep.OracleAccuracy, rep.OracleStrong)
	fmt.Fprintf(tw, "router\tAPGR\tAIQ\tCPT(50%%)\tCPT(80%%)\n")
	for _, r := range rep.Routers {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%.4f\n", r.Name, r.APGR, r.AIQ, r.StrongShareFor50, r.StrongShareFor80)
	}
	return tw.Flush()
}
