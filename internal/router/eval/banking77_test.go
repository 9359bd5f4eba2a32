package eval

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"strata/internal/router"
)

// sharedDir finds the shared folder beside the repository by walking up
// from the working directory, or skips the test.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "shared", "DESIGN.md")); err == nil {
			return filepath.Join(dir, "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("shared/ not found beside the repository")
		}
		dir = parent
	}
}

func banking77(t testing.TB) (train, val, test []router.Example, tm router.TierMap) {
	dir := filepath.Join(sharedDir(t), "data", "banking77")
	all, err := router.ReadExamplesFile(filepath.Join(dir, "train.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if test, err = router.ReadExamplesFile(filepath.Join(dir, "test.csv")); err != nil {
		t.Fatal(err)
	}
	if tm, err = router.ReadTierMapFile(filepath.Join(dir, "complexity_tiers_proposed.csv")); err != nil {
		t.Fatal(err)
	}
	// The same split strata router train and eval --split val use.
	train, val = router.Split(all, 0.1, 1)
	return train, val, test, tm
}

// TestBanking77Goals trains the learned router as "strata router train"
// does and checks issue 6's goals on the carved validation split and on
// Banking77's test split, against the heuristic baseline.
func TestBanking77Goals(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("trains on Banking77 (seconds, minutes under -race)")
	}
	train, val, test, tm := banking77(t)
	m, err := router.Train(t.Context(), train, tm, router.TrainOptions{Seed: 1, Rules: router.DefaultRules()})
	if err != nil {
		t.Fatal(err)
	}
	tiers := router.DefaultTiers()
	for _, split := range []struct {
		name string
		ex   []router.Example
		// Floors under which the test fails, just below the measured
		// values (val: accuracy 0.9463, under-routing 1/183 = 0.0055, cost
		// 0.2986; test: 0.9341, 7/480 = 0.0146, 0.2707). On val the
		// issue's goals for under-routing (<= 1%) and cost (<= 0.33) are
		// met and asserted; its accuracy goal (>= 0.96) is not reached.
		minAccuracy, maxUnder, maxCost float64
	}{
		{"val", val, 0.945, 0.01, 0.33},
		{"test", test, 0.933, 0.016, 0.30},
	} {
		t.Run(split.name, func(t *testing.T) {
			cases, texts, skipped := Cases(split.ex, tm, tiers, 200)
			if skipped > 0 {
				t.Fatalf("%d unmapped", skipped)
			}
			l := Run(cases, tm.Names, NewLearned(m, router.DefaultRules(), nil, 0, texts))
			h := Run(cases, tm.Names, NewHeuristic(router.DefaultRules(), texts, len(tiers)))
			t.Logf("learned: accuracy %.4f macro-F1 %.4f under-routing %.4f (%d/%d, CI %.4f-%.4f) cost %.4f (oracle %.4f) AIQ %.4f",
				l.TierAccuracy, l.MacroF1, l.TopTierUnderRouting.Rate, l.TopTierUnderRouting.Count, l.TopTierUnderRouting.N,
				l.TopTierUnderRouting.Lo, l.TopTierUnderRouting.Hi, l.CostRatio, l.OracleCostRatio, l.AIQ)
			t.Logf("heuristic: accuracy %.4f macro-F1 %.4f under-routing %.4f cost %.4f AIQ %.4f",
				h.TierAccuracy, h.MacroF1, h.TopTierUnderRouting.Rate, h.CostRatio, h.AIQ)
			if l.TierAccuracy < split.minAccuracy {
				t.Errorf("tier accuracy %.4f < %.2f", l.TierAccuracy, split.minAccuracy)
			}
			if l.TopTierUnderRouting.Rate > split.maxUnder {
				t.Errorf("top-tier under-routing %.4f > %.3f", l.TopTierUnderRouting.Rate, split.maxUnder)
			}
			if l.CostRatio > split.maxCost {
				t.Errorf("cost ratio %.4f > %.2f", l.CostRatio, split.maxCost)
			}
			// "By a wide margin": 30 points of accuracy, 0.3 of macro-F1,
			// and under-routing a tenth of the heuristic's.
			if l.TierAccuracy < h.TierAccuracy+0.3 || l.MacroF1 < h.MacroF1+0.3 || l.TopTierUnderRouting.Rate*10 > h.TopTierUnderRouting.Rate || l.AIQ <= h.AIQ {
				t.Errorf("learned does not beat the heuristic by a wide margin")
			}
		})
	}
}

var valFits = flag.Int("val.fits", 0, "run TestBanking77ValFits with this TrainOptions.Fits")

// TestBanking77ValFits prints the val figures of a model of -val.fits
// averaged fits (bench/router/RESULTS.md, "Averaged fits"); val only, so
// that designs are compared without looking at test.
func TestBanking77ValFits(t *testing.T) {
	if *valFits == 0 {
		t.Skip("needs -val.fits")
	}
	train, val, _, tm := banking77(t)
	m, err := router.Train(t.Context(), train, tm, router.TrainOptions{Seed: 1, Rules: router.DefaultRules(), Fits: *valFits})
	if err != nil {
		t.Fatal(err)
	}
	cases, texts, _ := Cases(val, tm, router.DefaultTiers(), 200)
	l := Run(cases, tm.Names, NewLearned(m, router.DefaultRules(), nil, 0, texts))
	t.Logf("fits %d: temperature %.3f top bound %.4f | val accuracy %.4f under-routing %d/%d cost %.4f",
		*valFits, m.Temperature, m.Bounds[len(m.Bounds)-1], l.TierAccuracy,
		l.TopTierUnderRouting.Count, l.TopTierUnderRouting.N, l.CostRatio)
}

func TestReplayGSM8K(t *testing.T) {
	outs, err := ReadReplay(filepath.Join(sharedDir(t), "data", "routellm_evals"), "gsm8k")
	if err != nil {
		t.Fatal(err)
	}
	// 1,319 prompts less 12 contaminated ones.
	if len(outs) != 1307 {
		t.Fatalf("%d prompts, want 1307", len(outs))
	}
	heur := make([]float64, len(outs))
	for i, o := range outs {
		heur[i] = router.ComplexityScore(o.Prompt)
	}
	r := Replay("gsm8k", outs, map[string][]float64{"heuristic": heur}, 1, 30)
	// SOURCE.md: weak 63.8% / strong 85.7% over all 1,319 prompts.
	if r.WeakAccuracy < 0.63 || r.WeakAccuracy > 0.645 || r.StrongAccuracy < 0.85 || r.StrongAccuracy > 0.865 {
		t.Errorf("weak %.4f strong %.4f", r.WeakAccuracy, r.StrongAccuracy)
	}
	for _, rr := range r.Routers {
		t.Logf("%s: APGR %.4f AIQ %.4f CPT50 %.3f CPT80 %.3f", rr.Name, rr.APGR, rr.AIQ, rr.StrongShareFor50, rr.StrongShareFor80)
		if rr.Name == "oracle" && rr.APGR <= 1 {
			t.Errorf("oracle APGR %.4f, want > 1 (it beats the strong model)", rr.APGR)
		}
	}
}
