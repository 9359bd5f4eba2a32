package router

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// TrainOptions tune [Train]. The zero value means every default.
type TrainOptions struct {
	// Features defaults to [DefaultFeatures].
	Features FeatureSpec
	// Epochs of SGD over the data. Default 12.
	Epochs int
	// LearningRate is the initial SGD step, decayed as lr/(1+epoch). Default 2.
	LearningRate float64
	// Seed makes training deterministic (shuffle order, calibration slice).
	// Default 1.
	Seed uint64
	// CalibFolds is the number of stratified cross-validation folds whose
	// out-of-fold scores fit the temperature and choose the top bound; the
	// final model is then trained on all examples. Default 1: hold out
	// CalibFrac of each category instead of cross-validating (on Banking77
	// 3 folds cost 1.6× the training time and did no better on validation).
	CalibFolds int
	// CalibFrac is the share held out when CalibFolds is 1. Default 0.1;
	// negative disables calibration altogether (temperature 1, bounds
	// LowerBound and 0.5).
	CalibFrac float64
	// TargetUnderRouting is the top-tier under-routing rate the top bound is
	// chosen to meet on the calibration slice. Default 0.01.
	TargetUnderRouting float64
	// LowerBound is the bound at every tier boundary but the top one.
	// Default 0.5 (stay in the lower tier when it is the more likely).
	LowerBound float64
	// OOSBound is the out-of-scope handoff bound. Default 0.7 (on
	// CLINC150 oos_val and the Banking77 validation split, 0.5 handed off 13
	// of 1,005 in-scope queries, 0.7 9, both catching 98 of 100 oos).
	OOSBound float64
	// Rules are the hard rules the router will run first: calibration
	// ignores held-out queries a top-tier rule already sends to the top.
	// The zero value means none.
	Rules Rules
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Features == (FeatureSpec{}) {
		o.Features = DefaultFeatures
	}
	if o.Epochs == 0 {
		o.Epochs = 12
	}
	if o.LearningRate == 0 {
		o.LearningRate = 2
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.CalibFrac == 0 {
		o.CalibFrac = 0.1
	}
	if o.CalibFolds == 0 {
		o.CalibFolds = 1
	}
	if o.TargetUnderRouting == 0 {
		o.TargetUnderRouting = 0.01
	}
	if o.LowerBound == 0 {
		o.LowerBound = 0.5
	}
	if o.OOSBound == 0 {
		o.OOSBound = 0.7
	}
	return o
}

// Train fits a [Model] to labelled examples. Every category must be in the
// tier map, except [OutOfScope], which becomes the handoff class. It
// returns ctx's error if ctx ends first.
func Train(ctx context.Context, examples []Example, tm TierMap, opts TrainOptions) (*Model, error) {
	opts = opts.withDefaults()
	if !opts.Features.valid() {
		return nil, fmt.Errorf("invalid feature spec %+v", opts.Features)
	}
	if len(tm.Names) < 1 || len(tm.Names) > maxTiers {
		return nil, fmt.Errorf("tier map has %d tiers, want 1..%d", len(tm.Names), maxTiers)
	}
	if len(examples) == 0 {
		return nil, errors.New("no examples")
	}
	m := &Model{
		Spec:        opts.Features,
		Tiers:       slices.Clone(tm.Names),
		Classes:     sortedCategories(examples),
		Temperature: 1,
		Info: TrainInfo{
			Examples: len(examples), Epochs: opts.Epochs, Seed: opts.Seed,
			HoldoutPct: max(opts.CalibFrac, 0), TargetUnderRouting: opts.TargetUnderRouting,
		},
	}
	if len(m.Classes) > maxClasses {
		return nil, fmt.Errorf("%d categories, want at most %d", len(m.Classes), maxClasses)
	}
	for _, c := range m.Classes {
		t, ok := tm.Of[c]
		switch {
		case c == OutOfScope:
			t = -1
			m.OOSBound = opts.OOSBound
		case !ok:
			return nil, fmt.Errorf("category %q is not in the tier map", c)
		}
		m.ClassTier = append(m.ClassTier, t)
	}
	m.Bounds = make([]float64, len(m.Tiers)-1)
	for t := range m.Bounds {
		m.Bounds[t] = opts.LowerBound
	}
	if len(m.Bounds) > 0 {
		m.Bounds[len(m.Bounds)-1] = 0.5
	}
	if opts.CalibFrac > 0 {
		var calib []Example
		var raw [][]float64
		for f, fold := range folds(examples, opts) {
			if err := m.fit(ctx, fold.fit, opts); err != nil {
				return nil, fmt.Errorf("calibration fold %d: %w", f, err)
			}
			calib = append(calib, fold.held...)
			raw = append(raw, m.rawLogits(fold.held)...)
		}
		m.calibrate(calib, raw, opts)
	}
	if err := m.fit(ctx, examples, opts); err != nil {
		return nil, err
	}
	return m, nil
}

// fit runs SGD on the softmax cross-entropy from zero weights.
func (m *Model) fit(ctx context.Context, examples []Example, opts TrainOptions) error {
	nc := len(m.Classes)
	dims := 1 << m.Spec.HashBits
	m.w = make([]float32, dims*nc)
	m.b = make([]float32, nc)
	classOf := make(map[string]int, nc)
	for i, c := range m.Classes {
		classOf[c] = i
	}
	fz := &featurizer{spec: m.Spec}
	feats := make([][]feature, len(examples))
	ys := make([]int, len(examples))
	for i, e := range examples {
		feats[i] = slices.Clone(fz.features(e.Text))
		ys[i] = classOf[e.Category]
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	order := make([]int, len(examples))
	for i := range order {
		order[i] = i
	}
	z := make([]float64, nc)
	g := make([]float32, nc)
	for ep := range opts.Epochs {
		if err := ctx.Err(); err != nil {
			return err
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		lr := opts.LearningRate / (1 + float64(ep))
		for _, i := range order {
			logits(m.w, m.b, feats[i], z)
			softmax(z, 1)
			for c := range g {
				y := 0.0
				if c == ys[i] {
					y = 1
				}
				g[c] = float32(lr * (z[c] - y))
				m.b[c] -= g[c]
			}
			for _, ft := range feats[i] {
				lo := int(ft.idx) * nc
				row := m.w[lo : lo+nc]
				for c := range row {
					row[c] -= g[c] * ft.val
				}
			}
		}
	}
	return nil
}

type fold struct{ fit, held []Example }

// folds splits examples for calibration: CalibFolds stratified
// cross-validation folds (within each category, a seeded shuffle dealt
// round-robin), or one holdout of CalibFrac when CalibFolds is 1.
func folds(examples []Example, opts TrainOptions) []fold {
	if opts.CalibFolds <= 1 {
		fit, held := Split(examples, opts.CalibFrac, opts.Seed)
		return []fold{{fit, held}}
	}
	k := opts.CalibFolds
	byCat := map[string][]int{}
	for i, e := range examples {
		byCat[e.Category] = append(byCat[e.Category], i)
	}
	which := make([]int, len(examples))
	for _, c := range sortedCategories(examples) {
		idx := byCat[c]
		rng := rand.New(rand.NewPCG(opts.Seed, categorySeed(c)^0xca1b))
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for j, i := range idx {
			which[i] = j % k
		}
	}
	out := make([]fold, k)
	for i, e := range examples {
		for f := range out {
			if which[i] == f {
				out[f].held = append(out[f].held, e)
			} else {
				out[f].fit = append(out[f].fit, e)
			}
		}
	}
	return out
}

// rawLogits returns the model's logits (before temperature) of examples.
func (m *Model) rawLogits(examples []Example) [][]float64 {
	fz := &featurizer{spec: m.Spec}
	raw := make([][]float64, len(examples))
	for i, e := range examples {
		raw[i] = make([]float64, len(m.Classes))
		logits(m.w, m.b, fz.features(e.Text), raw[i])
	}
	return raw
}

// calibrate fits the temperature by minimising the negative log-likelihood
// of the held-out examples' logits raw, then picks the largest top bound
// whose top-tier under-routing on them (less those a top-tier rule catches)
// is at most the target.
func (m *Model) calibrate(calib []Example, raw [][]float64, opts TrainOptions) {
	if len(calib) == 0 {
		return
	}
	nc := len(m.Classes)
	classOf := make(map[string]int, nc)
	for i, c := range m.Classes {
		classOf[c] = i
	}
	z := make([]float64, nc)
	nll := func(temp float64) float64 {
		s := 0.0
		for i, e := range calib {
			copy(z, raw[i])
			softmax(z, temp)
			s -= math.Log(max(z[classOf[e.Category]], 1e-12))
		}
		return s
	}
	// Golden-section search on log T in [log 0.05, log 20].
	lo, hi := math.Log(0.05), math.Log(20)
	phi := (math.Sqrt(5) - 1) / 2
	a, b := hi-phi*(hi-lo), lo+phi*(hi-lo)
	fa, fb := nll(math.Exp(a)), nll(math.Exp(b))
	for range 40 {
		if fa < fb {
			hi, b, fb = b, a, fa
			a = hi - phi*(hi-lo)
			fa = nll(math.Exp(a))
		} else {
			lo, a, fa = a, b, fb
			b = lo + phi*(hi-lo)
			fb = nll(math.Exp(b))
		}
	}
	m.Temperature = math.Exp((lo + hi) / 2)
	if len(m.Bounds) == 0 {
		return
	}
	top := len(m.Tiers) - 1
	var risks []float64 // P(top | in scope) of each top-tier example
	for i, e := range calib {
		if m.ClassTier[classOf[e.Category]] != top {
			continue
		}
		if a, _ := opts.Rules.Match(e.Text); a == ActionTopTier {
			continue
		}
		copy(z, raw[i])
		softmax(z, m.Temperature)
		p, in := 0.0, 0.0
		for c, v := range z {
			if m.ClassTier[c] == top {
				p += v
			}
			if m.ClassTier[c] >= 0 {
				in += v
			}
		}
		if in > 0 {
			p /= in
		}
		risks = append(risks, p)
	}
	if len(risks) == 0 {
		return
	}
	// A top-tier example is under-routed when its risk is below the bound.
	// Allow at most floor(target × n) of them.
	slices.Sort(risks)
	k := int(opts.TargetUnderRouting * float64(len(risks)))
	bound := risks[min(k, len(risks)-1)]
	m.Bounds[top-1] = min(max(bound, 1e-4), 0.5)
}
