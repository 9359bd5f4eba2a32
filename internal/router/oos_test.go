package router

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestChooseOOSBound(t *testing.T) {
	// Ten in-scope probabilities, largest first after sorting.
	ps := []float64{0.1, 0.95, 0.2, 0.8, 0.3, 0.6, 0.05, 0.99, 0.4, 0.01}
	tests := []struct {
		name   string
		ps     []float64
		target float64
		want   float64
	}{
		// floor(0.05 × 10) = 0 handoffs allowed: just above the largest.
		{"none-allowed", ps, 0.05, math.Nextafter(0.99, 2)},
		// 1 allowed: just above the second largest, so only 0.99 reaches it.
		{"one-allowed", ps, 0.1, math.Nextafter(0.95, 2)},
		{"two-allowed", ps, 0.25, math.Nextafter(0.8, 2)},
		{"three-allowed", ps, 0.3, math.Nextafter(0.6, 2)},
		// 4 allowed would be just above 0.4; the floor keeps it at 0.5.
		{"floor", ps, 0.4, MinOOSBound},
		{"all-allowed", ps, 0.99, MinOOSBound},
		{"never-above-1", []float64{1, 1, 1}, 0.1, 1},
		{"ties-count-together", []float64{0.9, 0.9, 0.7}, 0.34, math.Nextafter(0.9, 2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := chooseOOSBound(slices.Clone(tc.ps), tc.target)
			if got != tc.want {
				t.Errorf("chooseOOSBound(%v, %v) = %v, want %v", tc.ps, tc.target, got, tc.want)
			}
			k := int(tc.target * float64(len(tc.ps)))
			n := 0
			for _, p := range tc.ps {
				if p >= got {
					n++
				}
			}
			if n > k && got < 1 {
				t.Errorf("%d in-scope probabilities reach bound %v, target allows %d", n, got, k)
			}
		})
	}
}

// oosData is a synthetic set of three in-scope intents and an out-of-scope
// class; noise is the share of in-scope queries that borrow out-of-scope
// words (and of out-of-scope queries that borrow in-scope ones).
func oosData(noise float64) ([]Example, TierMap) {
	vocab := map[string][]string{
		"change_pin":   {"pin", "code", "change", "reset", "digits", "number"},
		"card_arrival": {"arrive", "delivery", "post", "waiting", "mail", "shipped"},
		"lost_card":    {"lost", "missing", "misplaced", "find", "gone", "dropped"},
		OutOfScope:     {"weather", "music", "recipe", "flight", "joke", "alarm", "movie", "song"},
	}
	cats := []string{"change_pin", "card_arrival", "lost_card", OutOfScope}
	rng := rand.New(rand.NewPCG(7, 7))
	pick := func(c string) string { return vocab[c][rng.IntN(len(vocab[c]))] }
	var ex []Example
	for _, c := range cats {
		for range 300 {
			var w []string
			for range 3 + rng.IntN(3) {
				w = append(w, pick(c))
			}
			if rng.Float64() < noise {
				other := OutOfScope
				if c == OutOfScope {
					other = cats[rng.IntN(3)]
				}
				for range 2 + rng.IntN(3) {
					w = append(w, pick(other))
				}
				rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
			}
			ex = append(ex, Example{Text: strings.Join(w, " "), Category: c})
		}
	}
	tm := TierMap{Names: []string{"simple", "standard", "complex"}, Of: map[string]int{"change_pin": 0, "card_arrival": 1, "lost_card": 2}}
	return ex, tm
}

// TestTrainChoosesOOSBound checks that the out-of-scope bound comes from
// the calibration slice: it moves with the target and with the data, and
// falls back to DefaultOOSBound only without calibration.
func TestTrainChoosesOOSBound(t *testing.T) {
	base := TrainOptions{Features: FeatureSpec{HashBits: 10, WordN: 1, CharMin: 3, CharMax: 3}, Epochs: 4, CalibFrac: 0.5}
	train := func(noise float64, mod func(*TrainOptions)) *Model {
		t.Helper()
		ex, tm := oosData(noise)
		opts := base
		mod(&opts)
		m, err := Train(t.Context(), ex, tm, opts)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	strict := train(0.3, func(o *TrainOptions) { o.TargetFalseHandoff = 0.01 })
	lax := train(0.3, func(o *TrainOptions) { o.TargetFalseHandoff = 0.15 })
	clean := train(0, func(o *TrainOptions) { o.TargetFalseHandoff = 0.01 })
	t.Logf("bounds: strict %v, lax %v, clean %v", strict.OOSBound, lax.OOSBound, clean.OOSBound)
	for _, m := range []*Model{strict, lax, clean} {
		if m.OOSBound < MinOOSBound || m.OOSBound > 1 || m.OOSBound == DefaultOOSBound {
			t.Errorf("oos bound %v not chosen in [%v, 1]", m.OOSBound, MinOOSBound)
		}
	}
	if !(strict.OOSBound > lax.OOSBound) {
		t.Errorf("target 1%% gave bound %v, target 15%% %v: want a higher bound for the stricter target", strict.OOSBound, lax.OOSBound)
	}
	if !(strict.OOSBound > clean.OOSBound) {
		t.Errorf("noisy data gave bound %v, clean data %v: want a higher bound when in-scope queries look out of scope", strict.OOSBound, clean.OOSBound)
	}
	if strict.Info.TargetFalseHandoff != 0.01 {
		t.Errorf("Info.TargetFalseHandoff = %v, want 0.01", strict.Info.TargetFalseHandoff)
	}
	// On the noisy data, the strict bound hands off few in-scope training
	// queries and most out-of-scope ones.
	ex, _ := oosData(0.3)
	var in, inOff, out, outOff int
	for _, e := range ex {
		off := strict.Score(e.Text).OutOfScope >= strict.OOSBound
		if e.Category == OutOfScope {
			out++
			outOff += b2i(off)
		} else {
			in++
			inOff += b2i(off)
		}
	}
	t.Logf("strict bound hands off %d/%d in-scope, %d/%d out-of-scope", inOff, in, outOff, out)
	if float64(inOff) > 0.05*float64(in) || float64(outOff) < 0.5*float64(out) {
		t.Errorf("strict bound hands off %d/%d in-scope, %d/%d out-of-scope", inOff, in, outOff, out)
	}
	if m := train(0.3, func(o *TrainOptions) { o.OOSBound = 0.8 }); m.OOSBound != 0.8 || m.Info.TargetFalseHandoff != 0 {
		t.Errorf("fixed bound: got %v (target %v), want 0.8", m.OOSBound, m.Info.TargetFalseHandoff)
	}
	if m := train(0.3, func(o *TrainOptions) { o.CalibFrac = -1 }); m.OOSBound != DefaultOOSBound {
		t.Errorf("no calibration: bound %v, want %v", m.OOSBound, DefaultOOSBound)
	}
	// Fewer than 100 in-scope calibration examples: the default.
	if m := train(0.3, func(o *TrainOptions) { o.CalibFrac = 0.05 }); m.OOSBound != DefaultOOSBound {
		t.Errorf("small calibration slice: bound %v, want %v", m.OOSBound, DefaultOOSBound)
	}
	ex, tm := oosData(0.3)
	if _, err := Train(t.Context(), ex, tm, TrainOptions{OOSBound: 1.5}); err == nil {
		t.Error("oos bound 1.5 accepted")
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
