package attack

import (
	"math"
	"math/rand/v2"
)

// TrainOptions tune Train.
type TrainOptions struct {
	Epochs int     // passes over the data; 0 means 8
	Rate   float64 // initial learning rate; 0 means 0.5
	L2     float64 // L2 penalty per example; 0 means 1e-6
	Seed   uint64  // shuffling seed
}

// Train fits a logistic regression on es with class-balanced weights by
// stochastic gradient descent. The result depends only on es and o.
func Train(es []Example, o TrainOptions) *Model {
	if o.Epochs == 0 {
		o.Epochs = 8
	}
	if o.Rate == 0 {
		o.Rate = 0.5
	}
	if o.L2 == 0 {
		o.L2 = 1e-6
	}
	feats := make([][]Feature, len(es))
	pos := 0
	for i, e := range es {
		feats[i] = Features(e.Text)
		if e.Attack {
			pos++
		}
	}
	n := len(es)
	wPos := float64(n) / (2 * float64(max(pos, 1)))
	wNeg := float64(n) / (2 * float64(max(n-pos, 1)))
	w := make([]float64, Dims)
	bias := 0.0
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	step := 0
	for ep := 0; ep < o.Epochs; ep++ {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			step++
			lr := o.Rate / math.Sqrt(1+float64(step)/float64(n))
			z := bias
			for _, f := range feats[i] {
				z += w[f.Index] * float64(f.Value)
			}
			p := 1 / (1 + math.Exp(-z))
			y, cw := 0.0, wNeg
			if es[i].Attack {
				y, cw = 1, wPos
			}
			g := cw * (p - y)
			for _, f := range feats[i] {
				w[f.Index] -= lr * (g*float64(f.Value) + o.L2*w[f.Index])
			}
			bias -= lr * g
		}
	}
	m := &Model{W: make([]float32, Dims), Bias: float32(bias)}
	for i, v := range w {
		m.W[i] = float32(v)
	}
	return m
}
