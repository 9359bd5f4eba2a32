package router

import (
	"math"
	"sync"
)

// Limits on a model; a model file outside them is rejected.
const (
	maxTiers   = 16
	maxClasses = 4096
)

// Model is a trained learned router: a multinomial logistic regression over
// hashed n-gram features whose classes are intents, each mapped to a tier
// (or, for the [OutOfScope] class, to a human handoff). A Model is immutable
// after [Train] or [DecodeModel] and safe for concurrent use.
type Model struct {
	Spec FeatureSpec
	// Tiers names the tiers the classes map to, cheapest first.
	Tiers []string
	// Classes names the classes; ClassTier[c] is class c's tier index, or
	// -1 for the out-of-scope class.
	Classes   []string
	ClassTier []int
	// Temperature divides the logits before the softmax; it is fitted on
	// held-out data so that the probabilities are calibrated.
	Temperature float64
	// Bounds are the default risk bounds, one per tier boundary: the query
	// stays at tier t if P(tier > t) < Bounds[t]. Chosen at training time.
	Bounds []float64
	// OOSBound is the default out-of-scope bound: P(out of scope) at or
	// above it means handoff. 0 disables (also when there is no such class).
	// Chosen at training time on the calibration slice (see
	// TrainOptions.TargetFalseHandoff).
	OOSBound float64
	// Info records how the model was trained.
	Info TrainInfo

	w []float32 // feature-major: w[f*len(Classes)+c]
	b []float32 // per class

	pool sync.Pool // *featurizer
}

// TrainInfo records the provenance of a model.
type TrainInfo struct {
	Examples   int     `json:"examples"`
	Epochs     int     `json:"epochs"`
	Seed       uint64  `json:"seed"`
	HoldoutPct float64 `json:"holdout_frac"`
	// TargetUnderRouting is the top-tier under-routing rate the top bound
	// was chosen for, on the calibration slice.
	TargetUnderRouting float64 `json:"target_under_routing"`
	// TargetFalseHandoff is the in-scope handoff rate the out-of-scope
	// bound was chosen for, on the calibration slice; 0 when the bound was
	// not chosen there (fixed by TrainOptions.OOSBound, or DefaultOOSBound).
	TargetFalseHandoff float64 `json:"target_false_handoff,omitempty"`
	// Fits is the number of fits averaged into the model
	// (TrainOptions.Fits); omitted when 1.
	Fits int `json:"fits,omitempty"`
}

// Scores is the model's view of one query.
type Scores struct {
	// Tier[t] is the calibrated probability that the query needs tier t,
	// given that it is in scope.
	Tier []float64
	// OutOfScope is the calibrated probability that the query is out of
	// scope (0 when the model has no such class).
	OutOfScope float64
	// Class is the most probable class (intent) and ClassProb its
	// probability.
	Class     string
	ClassProb float64
}

func (m *Model) getFeaturizer() *featurizer {
	if f, ok := m.pool.Get().(*featurizer); ok {
		return f
	}
	return &featurizer{spec: m.Spec}
}

// Score computes the calibrated class probabilities of text and folds them
// into tier masses.
func (m *Model) Score(text string) Scores {
	nc := len(m.Classes)
	var zbuf [128]float64
	z := zbuf[:0]
	if nc > len(zbuf) {
		z = make([]float64, 0, nc)
	}
	z = z[:nc]
	f := m.getFeaturizer()
	logits(m.w, m.b, f.features(text), z)
	m.pool.Put(f)
	softmax(z, m.Temperature)
	s := Scores{Tier: make([]float64, len(m.Tiers))}
	best := 0
	for c, p := range z {
		if p > z[best] {
			best = c
		}
		if t := m.ClassTier[c]; t >= 0 {
			s.Tier[t] += p
		} else {
			s.OutOfScope += p
		}
	}
	if in := 1 - s.OutOfScope; in > 0 {
		for t := range s.Tier {
			s.Tier[t] /= in
		}
	}
	s.Class, s.ClassProb = m.Classes[best], z[best]
	return s
}

// logits writes b + Σ val·w[f] into z.
func logits(w, b []float32, feats []feature, z []float64) {
	nc := len(b)
	for c := range z {
		z[c] = float64(b[c])
	}
	var acc [128]float32
	if nc <= len(acc) {
		a := acc[:nc]
		for _, ft := range feats {
			lo := int(ft.idx) * nc
			row := w[lo : lo+nc]
			a := a[:len(row)] // lets the compiler drop bounds checks
			v := ft.val
			c := 0
			for ; c+4 <= len(row); c += 4 {
				a[c] += row[c] * v
				a[c+1] += row[c+1] * v
				a[c+2] += row[c+2] * v
				a[c+3] += row[c+3] * v
			}
			for ; c < len(row); c++ {
				a[c] += row[c] * v
			}
		}
		for c := range z {
			z[c] += float64(acc[c])
		}
		return
	}
	for _, ft := range feats {
		row := w[int(ft.idx)*nc : int(ft.idx)*nc+nc]
		for c, v := range row {
			z[c] += float64(v * ft.val)
		}
	}
}

// softmax turns logits into probabilities in place, dividing them by temp.
func softmax(z []float64, temp float64) {
	if temp <= 0 {
		temp = 1
	}
	mx := math.Inf(-1)
	for _, v := range z {
		mx = max(mx, v)
	}
	sum := 0.0
	for i, v := range z {
		z[i] = math.Exp((v - mx) / temp)
		sum += z[i]
	}
	for i := range z {
		z[i] /= sum
	}
}

// RiskTier returns the lowest tier t such that, at t and at every boundary
// above it, the risk of needing a higher tier is below that boundary's
// bound: Σ_{v>u} p[v] < bounds[u] for all u ≥ t. With one bound this is "the
// lowest tier whose risk of needing a higher one is below the bound"; with a
// strict top bound and a lax lower one, a query likely to need the top tier
// cannot slip to the bottom because the middle tier is unlikely. A missing
// bound counts as 0 (never stay below).
func RiskTier(p []float64, bounds []float64) int {
	t := len(p) - 1
	above := 0.0
	for u := len(p) - 2; u >= 0; u-- {
		above += p[u+1]
		if u >= len(bounds) || !(above < bounds[u]) {
			break
		}
		t = u
	}
	return max(t, 0)
}
