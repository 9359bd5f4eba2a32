package finetune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Sequence is one training example as token ids. Target[i] (for i >= 1)
// says whether predicting Tokens[i] from Tokens[:i] counts toward the loss
// (fine-tuning counts only completion tokens; continued pre-training all).
// len(Target) == len(Tokens); Target[0] is ignored.
type Sequence struct {
	Tokens []int
	Target []bool
}

// Options configure Train. The zero value of every field means its
// default.
type Options struct {
	Epochs       int     // passes over the training set; default 1
	BatchSize    int     // sequences per optimizer step; default 1
	LearningRate float64 // AdamW peak learning rate; default 1e-4
	// WarmupSteps ramps the learning rate linearly: step s (0-based) uses
	// LearningRate·(s+1)/WarmupSteps while s < WarmupSteps, then
	// LearningRate, constant. Default 0 (no warmup).
	WarmupSteps int
	WeightDecay float64 // decoupled, on 2-D tensors only; default 0.01 (negative means 0)
	Beta1       float64 // AdamW β1; default 0.9
	Beta2       float64 // AdamW β2; default 0.99
	ClipNorm    float64 // global gradient-norm clip; default 1 (negative disables)
	// MaxSeqLen truncates longer sequences to their first MaxSeqLen
	// tokens. Default (and upper bound) the model's max_position_embeddings,
	// capped at 1024 by default.
	MaxSeqLen int
	Seed      uint64 // selects each epoch's shuffle; default 1
	// OnStep, if set, is called after every optimizer step; a non-nil
	// error stops training and Train returns it.
	OnStep func(StepInfo) error
}

// StepInfo describes one finished optimizer step.
type StepInfo struct {
	Step  int     // 0-based optimizer step
	Epoch int     // 1-based
	Loss  float64 // mean loss over the step's counted tokens (0 when it had none)
	Steps int     // total steps planned
}

// adamEps is AdamW's ε.
const adamEps = 1e-8

// withDefaults fills o's unset fields.
func (o Options) withDefaults(a *arch) (Options, error) {
	if o.Epochs < 0 || o.BatchSize < 0 || o.WarmupSteps < 0 || o.MaxSeqLen < 0 || o.LearningRate < 0 {
		return o, fmt.Errorf("finetune: negative option in %+v", o)
	}
	if o.Beta1 < 0 || o.Beta1 >= 1 || o.Beta2 < 0 || o.Beta2 >= 1 {
		return o, fmt.Errorf("finetune: AdamW betas %g, %g are not in [0, 1)", o.Beta1, o.Beta2)
	}
	o.Epochs = cmpOr(o.Epochs, 1)
	o.BatchSize = cmpOr(o.BatchSize, 1)
	o.LearningRate = cmpOr(o.LearningRate, 1e-4)
	switch {
	case o.WeightDecay == 0:
		o.WeightDecay = 0.01
	case o.WeightDecay < 0:
		o.WeightDecay = 0
	}
	o.Beta1 = cmpOr(o.Beta1, 0.9)
	o.Beta2 = cmpOr(o.Beta2, 0.99)
	o.ClipNorm = cmpOr(o.ClipNorm, 1)
	if o.MaxSeqLen == 0 {
		o.MaxSeqLen = min(a.maxPos, 1024)
	}
	o.MaxSeqLen = min(o.MaxSeqLen, a.maxPos)
	o.Seed = cmpOr(o.Seed, 1)
	return o, nil
}

// cmpOr returns v, or def when v is zero.
func cmpOr[T int | float64 | uint64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// example is a Sequence prepared for the network: the positions fed, the
// positions whose predictions count, and the tokens they predict.
type example struct {
	inputs, rows, targets []int
}

// prepare truncates s to maxLen tokens and finds its counted targets. The
// inputs stop at the last counted prediction: later positions cannot
// change the loss.
func (m *Model) prepare(s Sequence, maxLen int) (example, error) {
	if len(s.Target) != len(s.Tokens) {
		return example{}, fmt.Errorf("finetune: %d targets for %d tokens", len(s.Target), len(s.Tokens))
	}
	for _, t := range s.Tokens {
		if t < 0 || t >= m.lay.vocab {
			return example{}, fmt.Errorf("finetune: token %d outside the vocabulary of %d", t, m.lay.vocab)
		}
	}
	toks := s.Tokens[:min(len(s.Tokens), maxLen)]
	var ex example
	for i := 1; i < len(toks); i++ {
		if s.Target[i] {
			ex.rows = append(ex.rows, i-1)
			ex.targets = append(ex.targets, toks[i])
		}
	}
	if len(ex.rows) > 0 {
		ex.inputs = toks[:ex.rows[len(ex.rows)-1]+1]
	}
	return ex, nil
}

// Loss returns the mean cross-entropy over all counted tokens of seqs (no
// update), with sequences truncated to the default MaxSeqLen. The result
// does not depend on GOMAXPROCS.
func (m *Model) Loss(ctx context.Context, seqs []Sequence) (float64, error) {
	maxLen := min(m.lay.maxPos, 1024)
	exs := make([]example, len(seqs))
	for i, s := range seqs {
		ex, err := m.prepare(s, maxLen)
		if err != nil {
			return 0, fmt.Errorf("sequence %d: %w", i, err)
		}
		exs[i] = ex
	}
	// Sequences run in parallel, one network per goroutine, sharing the
	// transposed weights; their losses are summed in order afterwards.
	losses := make([]float64, len(exs))
	workers := min(runtime.GOMAXPROCS(0), len(exs))
	first := newNet[float32](m.lay, m.params, nil, 0)
	wt := first.weightsT()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			nt := first
			if w > 0 {
				nt = newNet[float32](m.lay, m.params, nil, 0)
				nt.wt, nt.wtOK = wt, wt != nil
			}
			for i := w; i < len(exs) && ctx.Err() == nil; i += workers {
				if ex := exs[i]; len(ex.rows) > 0 {
					losses[i] = nt.sequenceLoss(ex.inputs, ex.rows, ex.targets, 0, false)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var sum float64
	count := 0
	for i, ex := range exs {
		sum += losses[i]
		count += len(ex.rows)
	}
	if count == 0 {
		return 0, errors.New("finetune: no counted target tokens")
	}
	return sum / float64(count), nil
}

// Train runs AdamW over train for o.Epochs, updating m in place. Each epoch
// visits the examples in an order shuffled by o.Seed, in steps of
// o.BatchSize sequences (the last one may be smaller), so an epoch is
// ceil(len(train)/BatchSize) steps. A step's gradient is the mean over its
// counted tokens: each sequence runs on its own (no padding) and adds its
// gradient. Train honours ctx, returning ctx.Err() within one sequence's
// forward and backward pass.
func (m *Model) Train(ctx context.Context, train []Sequence, o Options) error {
	o, err := o.withDefaults(&m.lay.arch)
	if err != nil {
		return err
	}
	if len(train) == 0 {
		return errors.New("finetune: empty training set")
	}
	exs := make([]example, len(train))
	longest := 0
	for i, s := range train {
		ex, err := m.prepare(s, o.MaxSeqLen)
		if err != nil {
			return fmt.Errorf("training sequence %d: %w", i, err)
		}
		exs[i] = ex
		longest = max(longest, len(ex.inputs))
	}
	perEpoch := (len(exs) + o.BatchSize - 1) / o.BatchSize
	opt := newAdamW(m.lay, o)
	nt := newNet(m.lay, m.params, opt.grads, longest)
	step := 0
	for ep := 1; ep <= o.Epochs; ep++ {
		perm := rand.New(rand.NewPCG(o.Seed, uint64(ep))).Perm(len(exs))
		for s := range perEpoch {
			if err := ctx.Err(); err != nil {
				return err
			}
			batch := perm[s*o.BatchSize : min((s+1)*o.BatchSize, len(exs))]
			count := 0
			for _, i := range batch {
				count += len(exs[i].rows)
			}
			clear(opt.grads)
			var loss float64
			if count > 0 {
				scale := float32(1 / float64(count))
				for _, i := range batch {
					if err := ctx.Err(); err != nil {
						return err
					}
					if ex := exs[i]; len(ex.rows) > 0 {
						loss += nt.sequenceLoss(ex.inputs, ex.rows, ex.targets, scale, true)
					}
				}
				loss /= float64(count)
				opt.update(m.params, step)
				nt.wtOK = false
			}
			if o.OnStep != nil {
				if err := o.OnStep(StepInfo{Step: step, Epoch: ep, Loss: loss, Steps: o.Epochs * perEpoch}); err != nil {
					return err
				}
			}
			step++
		}
	}
	return nil
}

// adamW is the optimizer's state: gradients and both moments in one
// buffer, with views per use.
type adamW struct {
	lay         *layout
	o           Options
	grads, m, v []float32
	decay       []bool // per tensor of lay: 2-D tensors are decayed
	t           int    // updates done
}

func newAdamW(l *layout, o Options) *adamW {
	buf := make([]float32, 3*l.size)
	a := &adamW{lay: l, o: o, grads: buf[:l.size], m: buf[l.size : 2*l.size], v: buf[2*l.size:]}
	for _, t := range l.tensors {
		a.decay = append(a.decay, len(t.shape) == 2)
	}
	return a
}

// lr returns the learning rate of 0-based step s.
func (a *adamW) lr(s int) float64 {
	if s < a.o.WarmupSteps {
		return a.o.LearningRate * float64(s+1) / float64(a.o.WarmupSteps)
	}
	return a.o.LearningRate
}

// gradNorm returns the global L2 norm of the gradients, summed in a fixed
// order.
func (a *adamW) gradNorm() float64 {
	const chunk = 1 << 14
	n := (len(a.grads) + chunk - 1) / chunk
	parts := make([]float64, n)
	parallel(n, chunk, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var s float64
			for _, g := range a.grads[c*chunk : min((c+1)*chunk, len(a.grads))] {
				s += float64(g) * float64(g)
			}
			parts[c] = s
		}
	})
	var s float64
	for _, p := range parts {
		s += p
	}
	return math.Sqrt(s)
}

// update applies one AdamW step (decoupled weight decay, bias correction,
// global-norm clipping) for 0-based step s to params.
func (a *adamW) update(params []float32, s int) {
	a.t++
	gs := 1.0
	if c := a.o.ClipNorm; c > 0 {
		if n := a.gradNorm(); n > c {
			gs = c / n
		}
	}
	lr := a.lr(s)
	b1, b2 := a.o.Beta1, a.o.Beta2
	c1 := 1 - math.Pow(b1, float64(a.t))
	c2 := 1 - math.Pow(b2, float64(a.t))
	for ti, t := range a.lay.tensors {
		wd := 0.0
		if a.decay[ti] {
			wd = a.o.WeightDecay
		}
		off, size := t.off, t.size()
		parallel(size, 16, func(lo, hi int) {
			for i := off + lo; i < off+hi; i++ {
				g := float64(a.grads[i]) * gs
				m := b1*float64(a.m[i]) + (1-b1)*g
				v := b2*float64(a.v[i]) + (1-b2)*g*g
				a.m[i], a.v[i] = float32(m), float32(v)
				p := float64(params[i])
				params[i] = float32(p - lr*((m/c1)/(math.Sqrt(v/c2)+adamEps)+wd*p))
			}
		})
	}
}
