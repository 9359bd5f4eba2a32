package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// TrainOptions tune [Train]. The zero value means every default.
type TrainOptions struct {
	// Features defaults to [DefaultFeatures].
	Features FeatureSpec
	// Epochs over the data. Default 12.
	Epochs int
	// LearningRate is the AdaGrad step: each weight moves by LearningRate
	// times its gradient over the root of its summed squared gradients.
	// Default 0.2.
	LearningRate float64
	// Seed makes training deterministic (shuffle order, calibration slice).
	// Default 1.
	Seed uint64
	// CalibFolds is the number of stratified cross-validation folds whose
	// out-of-fold scores fit the temperature and choose the top bound; the
	// final model is then trained on all examples. Default 1: hold out
	// CalibFrac of each category instead of cross-validating (on Banking77,
	// 5 folds cost 6 fits instead of 2, chose a lower top bound, 0.040
	// against 0.051, and did no better on the validation split: 1/183
	// top-tier queries under-routed either way, tier accuracy 0.942
	// against 0.946).
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
	// OOSBound fixes the out-of-scope handoff bound. Default 0: choose it
	// on the calibration slice (see TargetFalseHandoff), or use
	// DefaultOOSBound when there is no calibration slice or it holds fewer
	// than 100 in-scope examples.
	OOSBound float64
	// TargetFalseHandoff is the share of in-scope calibration examples the
	// out-of-scope bound may hand off: the bound is the lowest one (but at
	// least MinOOSBound) at which at most floor(target × n) of the n
	// in-scope examples reach it. Default 0.0075, the knee on the
	// calibration slice of bench/router/run.sh's training (901 in-scope
	// Banking77 and 1,210 held-out CLINC150 out-of-scope examples): targets
	// 0.5%, 0.75% and 1% handed off 4, 6 and 9 in-scope examples and
	// caught 96.4%, 98.8% and 99.3% of the out-of-scope ones (table in
	// bench/router/RESULTS.md).
	TargetFalseHandoff float64
	// TierWeight adds that multiple of the tier-level cross-entropy (minus
	// the log of the probability mass on the example's tier) to the
	// intent-level one, so that mistakes between intents of one tier cost
	// less than mistakes across tiers. Default 1; negative means 0.
	TierWeight float64
	// Rules are the hard rules the router will run first: calibration
	// counts held-out queries a top-tier rule already sends to the top as
	// routed there, whatever the model says.
	// The zero value means none.
	Rules Rules
	// Fits is the number of fits, with shuffle seeds Seed, Seed+1, …,
	// whose weights are averaged into each model (the calibration fit's and
	// the final one): the mean of linear models' weights is the mean of
	// their logits, so routing costs what one fit's does while training
	// costs Fits times as much. Default 1. On Banking77, 5 fits beat each
	// of 10 single fits out of fold at 0.8-1% top-tier under-routing (by
	// 0.001-0.006 of tier accuracy over the shipped seed) but did worse on
	// the validation split (bench/router/RESULTS.md, "Averaged fits").
	Fits int
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Features == (FeatureSpec{}) {
		o.Features = DefaultFeatures
	}
	if o.Epochs == 0 {
		o.Epochs = 12
	}
	if o.LearningRate == 0 {
		o.LearningRate = 0.2
	}
	if o.TierWeight == 0 {
		o.TierWeight = 1
	}
	o.TierWeight = max(o.TierWeight, 0)
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
	if o.TargetFalseHandoff == 0 {
		o.TargetFalseHandoff = 0.0075
	}
	o.Fits = max(o.Fits, 1)
	return o
}

// Out-of-scope bounds.
const (
	// DefaultOOSBound is the out-of-scope bound of a model trained without
	// a calibration slice large enough to choose one.
	DefaultOOSBound = 0.7
	// MinOOSBound is the lowest bound calibration may choose: a query the
	// model finds more likely in scope than not is never handed off.
	MinOOSBound = 0.5
	// minOOSCalibration is the number of in-scope calibration examples
	// below which the bound is not chosen from them.
	minOOSCalibration = 100
)

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
	if !(opts.OOSBound >= 0 && opts.OOSBound <= 1) || !(opts.TargetFalseHandoff > 0 && opts.TargetFalseHandoff < 1) {
		return nil, fmt.Errorf("oos bound %v, target false handoff %v: want [0, 1] and (0, 1)", opts.OOSBound, opts.TargetFalseHandoff)
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
	if opts.Fits > 1 {
		m.Info.Fits = opts.Fits
	}
	if len(m.Classes) > maxClasses {
		return nil, fmt.Errorf("%d categories, want at most %d", len(m.Classes), maxClasses)
	}
	for _, c := range m.Classes {
		t, ok := tm.Of[c]
		switch {
		case c == OutOfScope:
			t = -1
			m.OOSBound = cmp.Or(opts.OOSBound, DefaultOOSBound)
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
	// The final fit and the calibration folds' fits are independent: run
	// them on up to GOMAXPROCS goroutines, each fold on its own copy of the
	// model.
	var fs []fold
	if opts.CalibFrac > 0 {
		fs = folds(examples, opts)
	}
	raws := make([][][]float64, len(fs))
	errs := make([]error, len(fs)+1)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	wg.Go(func() {
		sem <- struct{}{}
		defer func() { <-sem }()
		errs[len(fs)] = m.fitAveraged(ctx, examples, opts)
	})
	for f, fold := range fs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			fm := &Model{Spec: m.Spec, Tiers: m.Tiers, Classes: m.Classes, ClassTier: m.ClassTier}
			if err := fm.fitAveraged(ctx, fold.fit, opts); err != nil {
				errs[f] = fmt.Errorf("calibration fold %d: %w", f, err)
				return
			}
			raws[f] = fm.rawLogits(fold.held)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(fs) > 0 {
		var calib []Example
		var raw [][]float64
		for f, fold := range fs {
			calib = append(calib, fold.held...)
			raw = append(raw, raws[f]...)
		}
		m.calibrate(calib, raw, opts)
	}
	return m, nil
}

// fitAveraged runs opts.Fits fits of examples, with shuffle seeds
// opts.Seed, opts.Seed+1, …, one after another, and sets m's weights to
// their mean (in seed order, so the result is deterministic). The mean of
// linear models' weights gives the mean of their logits.
func (m *Model) fitAveraged(ctx context.Context, examples []Example, opts TrainOptions) error {
	nc := len(m.Classes)
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
	if opts.Fits <= 1 {
		return m.fit(ctx, feats, ys, opts)
	}
	var sumW, sumB []float32
	for k := range opts.Fits {
		o := opts
		o.Seed = opts.Seed + uint64(k)
		if err := m.fit(ctx, feats, ys, o); err != nil {
			return err
		}
		sumW, sumB = addTo(sumW, m.w), addTo(sumB, m.b)
	}
	inv := 1 / float32(opts.Fits)
	for i := range sumW {
		sumW[i] *= inv
	}
	for i := range sumB {
		sumB[i] *= inv
	}
	m.w, m.b = sumW, sumB
	return nil
}

// addTo adds w to sum element by element, allocating sum if it is nil.
func addTo(sum, w []float32) []float32 {
	if sum == nil {
		return slices.Clone(w)
	}
	for i, v := range w {
		sum[i] += v
	}
	return sum
}

// fit runs AdaGrad on the softmax cross-entropy, plus TierWeight times the
// tier-level cross-entropy, from zero weights, over the examples' features
// feats and classes ys.
func (m *Model) fit(ctx context.Context, feats [][]feature, ys []int, opts TrainOptions) error {
	nc := len(m.Classes)
	dims := 1 << m.Spec.HashBits
	m.w = make([]float32, dims*nc)
	m.b = make([]float32, nc)
	// group[c] is class c's tier, or len(Tiers) for the out-of-scope class.
	group := make([]int, nc)
	for c, t := range m.ClassTier {
		group[c] = t
		if t < 0 {
			group[c] = len(m.Tiers)
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	order := make([]int, len(feats))
	for i := range order {
		order[i] = i
	}
	// AdaGrad's summed squared gradients, per weight and per bias.
	accW := make([]float32, len(m.w))
	accB := make([]float32, nc)
	lr := float32(opts.LearningRate)
	mass := make([]float64, len(m.Tiers)+1)
	z := make([]float64, nc)
	g := make([]float32, nc)
	for range opts.Epochs {
		if err := ctx.Err(); err != nil {
			return err
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			logits(m.w, m.b, feats[i], z)
			softmax(z, 1)
			lossGradient(z, ys[i], group, opts.TierWeight, mass, g)
			for c := range g {
				accB[c] += g[c] * g[c]
				m.b[c] -= lr * g[c] / float32(math.Sqrt(float64(accB[c])+1e-8))
			}
			for _, ft := range feats[i] {
				lo := int(ft.idx) * nc
				row := m.w[lo : lo+nc]
				acc := accW[lo : lo+nc]
				for c, gc := range g {
					gc *= ft.val
					if gc == 0 {
						continue
					}
					acc[c] += gc * gc
					row[c] -= lr * gc / float32(math.Sqrt(float64(acc[c])))
				}
			}
		}
	}
	return nil
}

// lossGradient writes into g the gradient with respect to the logits of
// -log p[y] - tierWeight·log Σ_{c: group[c] = group[y]} p[c], where p are the
// softmax probabilities. mass is scratch space with one entry per group.
func lossGradient(p []float64, y int, group []int, tierWeight float64, mass []float64, g []float32) {
	clear(mass)
	for c, v := range p {
		mass[group[c]] += v
	}
	ty := group[y]
	// d/dz_c of -log p_y is p_c - [c = y]; of -log Σ_{tier} p it is
	// p_c - [c in the tier] p_c / Σ_{tier} p.
	for c, v := range p {
		d := v
		if c == y {
			d--
		}
		e := v
		if group[c] == ty {
			e -= v / max(mass[ty], 1e-12)
		}
		g[c] = float32(d + tierWeight*e)
	}
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
// whose top-tier under-routing on them is at most the target (top-tier
// examples a top-tier rule catches count, as never under-routed) and, unless
// opts fixes it, the out-of-scope bound (see [chooseOOSBound]).
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
	if m.OOSBound > 0 && opts.OOSBound == 0 {
		m.calibrateOOS(calib, raw, opts)
	}
	if len(m.Bounds) == 0 {
		return
	}
	top := len(m.Tiers) - 1
	var risks []float64 // P(top | in scope) of each top-tier example
	nTop := 0
	for i, e := range calib {
		if m.ClassTier[classOf[e.Category]] != top {
			continue
		}
		nTop++
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
	// Allow at most floor(target × n) of them, n counting every top-tier
	// example (those a rule catches are never under-routed), as the
	// under-routing rate does.
	slices.Sort(risks)
	k := int(opts.TargetUnderRouting * float64(nTop))
	bound := risks[min(k, len(risks)-1)]
	m.Bounds[top-1] = min(max(bound, 1e-4), 0.5)
}

// calibrateOOS chooses the out-of-scope bound from the in-scope calibration
// examples' P(out of scope). An example a hard rule catches counts as never
// handed off by the bound: a top-tier rule overrides the handoff, and a
// handoff rule hands it off whatever the bound.
func (m *Model) calibrateOOS(calib []Example, raw [][]float64, opts TrainOptions) {
	z := make([]float64, len(m.Classes))
	var pIn []float64
	for i, e := range calib {
		if e.Category == OutOfScope {
			continue
		}
		p := 0.0
		if a, _ := opts.Rules.Match(e.Text); a == ActionNone {
			copy(z, raw[i])
			softmax(z, m.Temperature)
			for c, v := range z {
				if m.ClassTier[c] < 0 {
					p += v
				}
			}
		}
		pIn = append(pIn, p)
	}
	if len(pIn) < minOOSCalibration {
		return // keep DefaultOOSBound
	}
	m.OOSBound = chooseOOSBound(pIn, opts.TargetFalseHandoff)
	m.Info.TargetFalseHandoff = opts.TargetFalseHandoff
}

// chooseOOSBound returns the lowest bound b ≥ [MinOOSBound] such that at
// most floor(target × len(pIn)) of the in-scope probabilities pIn are at or
// above b (a handoff is P(out of scope) ≥ b). It sorts pIn.
func chooseOOSBound(pIn []float64, target float64) float64 {
	slices.Sort(pIn)
	slices.Reverse(pIn)
	k := int(target * float64(len(pIn)))
	if k >= len(pIn) {
		return MinOOSBound
	}
	// Strictly above the (k+1)-th largest, so that only the k largest reach it.
	return min(max(math.Nextafter(pIn[k], 2), MinOOSBound), 1)
}
