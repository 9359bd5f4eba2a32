package eval

import (
	"math"
	"testing"
)

func TestWilson(t *testing.T) {
	tests := []struct {
		name     string
		k, n     int
		lo, hi   float64
		wantRate float64
	}{
		// Reference values from the closed-form Wilson score interval computed
		// independently in Python (0 of n has upper bound z²/(n+z²)).
		{"2-of-183", 2, 183, 0.003002, 0.038966, 0.010929},
		{"0-of-480", 0, 480, 0, 0.007939, 0},
		{"50-of-100", 50, 100, 0.403832, 0.596168, 0.5},
		{"empty", 0, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iv := Wilson(tc.k, tc.n)
			if math.Abs(iv.Lo-tc.lo) > 1e-5 || math.Abs(iv.Hi-tc.hi) > 1e-5 || math.Abs(iv.Rate-tc.wantRate) > 1e-5 {
				t.Errorf("Wilson(%d, %d) = %+v, want [%v, %v]", tc.k, tc.n, iv, tc.lo, tc.hi)
			}
		})
	}
}

func TestMeasure(t *testing.T) {
	c := []float64{1, 5, 30}
	items := []Item{
		{Want: 0, Got: 0, Cost: c},
		{Want: 0, Got: 2, Cost: c},
		{Want: 1, Got: 1, Cost: c},
		{Want: 2, Got: 2, Cost: c},
		{Want: 2, Got: 1, Cost: c},
		{Want: 1, Got: 0, Cost: c, Handoff: true}, // handoff counts as top
	}
	m := Measure(items, 3)
	if m.TierAccuracy != 3.0/6 {
		t.Errorf("accuracy %v", m.TierAccuracy)
	}
	// tier0: tp1 fp0 fn1 -> 2/3; tier1: tp1 fp1 fn1 -> 1/2; tier2: tp1 fp2 fn1 -> 2/5.
	if want := (2.0/3 + 0.5 + 0.4) / 3; math.Abs(m.MacroF1-want) > 1e-12 {
		t.Errorf("macro F1 %v, want %v", m.MacroF1, want)
	}
	if m.TopTierUnderRouting.Count != 1 || m.TopTierUnderRouting.N != 2 {
		t.Errorf("under-routing %+v", m.TopTierUnderRouting)
	}
	if want := (1 + 30 + 5 + 30 + 5 + 30) / 180.0; math.Abs(m.CostRatio-want) > 1e-12 {
		t.Errorf("cost ratio %v, want %v", m.CostRatio, want)
	}
	if m.Quality != 5.0/6 || m.Handoffs != 1 || m.Confusion[1][2] != 1 {
		t.Errorf("quality %v handoffs %d confusion %v", m.Quality, m.Handoffs, m.Confusion)
	}
}

func TestAIQ(t *testing.T) {
	tests := []struct {
		name   string
		points []Point
		want   float64
	}{
		{"two-models-line", []Point{{CostRatio: 0, Quality: 0.5}, {CostRatio: 1, Quality: 1}}, 0.75},
		{"dominated-point-ignored", []Point{{CostRatio: 0, Quality: 0.5}, {CostRatio: 0.5, Quality: 0.6}, {CostRatio: 1, Quality: 1}}, 0.75},
		{"concave-point-counts", []Point{{CostRatio: 0, Quality: 0.5}, {CostRatio: 0.5, Quality: 1}, {CostRatio: 1, Quality: 1}}, 0.875},
		{"quality-drop-at-high-cost", []Point{{CostRatio: 0, Quality: 0.5}, {CostRatio: 0.5, Quality: 1}, {CostRatio: 1, Quality: 0.9}}, 0.875},
		{"single-point", []Point{{CostRatio: 0.3, Quality: 0.8}}, 0.8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AIQ(tc.points); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("AIQ = %v, want %v", got, tc.want)
			}
		})
	}
	c, ok := QualityAt([]Point{{CostRatio: 0, Quality: 0.5}, {CostRatio: 1, Quality: 1}}, 0.9)
	if !ok || math.Abs(c-0.8) > 1e-12 {
		t.Errorf("QualityAt = %v %v, want 0.8", c, ok)
	}
	if _, ok := QualityAt([]Point{{CostRatio: 1, Quality: 0.5}}, 0.9); ok {
		t.Error("unreachable quality reported reachable")
	}
}

func TestReplaySynthetic(t *testing.T) {
	// 4 prompts: weak right on 0 and 1, strong right on 1, 2 and 3.
	outs := []Outcome{{"a", true, false}, {"b", true, true}, {"c", false, true}, {"d", false, true}}
	// A perfect score ranks c and d (need strong) above a and b.
	r := Replay("toy", outs, map[string][]float64{"perfect": {0, 0.1, 0.9, 0.8}, "inverse": {0.9, 0.8, 0, 0.1}}, 1, 30)
	if r.WeakAccuracy != 0.5 || r.StrongAccuracy != 0.75 || r.OracleAccuracy != 1 || r.OracleStrong != 0.5 {
		t.Fatalf("report %+v", r)
	}
	byName := map[string]ReplayRouter{}
	for _, rr := range r.Routers {
		byName[rr.Name] = rr
	}
	if got := byName["random"].APGR; math.Abs(got-0.5) > 1e-9 {
		t.Errorf("random APGR %v, want 0.5", got)
	}
	if byName["perfect"].APGR <= byName["random"].APGR || byName["inverse"].APGR >= byName["random"].APGR {
		t.Errorf("APGR perfect %v random %v inverse %v", byName["perfect"].APGR, byName["random"].APGR, byName["inverse"].APGR)
	}
	if got := byName["perfect"].StrongShareFor80; math.Abs(got-0.2) > 1e-9 {
		// PGR 80% is accuracy 0.7; the hull rises from 0.5 at 0% strong
		// to 1.0 at 50%, so it reaches 0.7 at 20%.
		t.Errorf("perfect CPT(80) %v, want 0.2", got)
	}
}
