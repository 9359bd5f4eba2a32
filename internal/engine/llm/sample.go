package llm

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Sampling is how the next token is chosen from the logits.
type Sampling struct {
	Temperature float64 // 0 means greedy (argmax)
	TopP        float64 // nucleus: keep the smallest set of tokens whose probability reaches TopP; 0 or 1 means off
	TopK        int     // keep the TopK most likely tokens; 0 means off
}

// sampler picks tokens for one sequence with its own random source.
type sampler struct {
	Sampling
	rng   *rand.Rand
	probs []float32
	idx   []int
}

func newSampler(s Sampling, seed uint64) *sampler {
	return &sampler{Sampling: s, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// argmax returns the index of the largest logit (the first, on ties).
func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// logprob returns the log-probability of token id under the softmax of the
// raw logits (temperature 1, before any top-k/top-p truncation): the
// model's own distribution, whatever the sampling settings.
func logprob(logits []float32, id int) float64 {
	m := float64(logits[argmax(logits)])
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - m)
	}
	return float64(logits[id]) - m - math.Log(sum)
}

// sample picks the next token from logits.
func (s *sampler) sample(logits []float32) int {
	if s.Temperature <= 0 || s.TopK == 1 {
		return argmax(logits)
	}
	n := len(logits)
	if cap(s.probs) < n {
		s.probs = make([]float32, n)
		s.idx = make([]int, n)
	}
	p := s.probs[:n]
	inv := float32(1 / s.Temperature)
	m := float32(math.Inf(-1))
	for i, v := range logits {
		v *= inv
		p[i] = v
		if v > m {
			m = v
		}
	}
	sum := expSub(p, m) // unnormalised probabilities
	k := n
	if s.TopK > 0 && s.TopK < n {
		k = s.TopK
	}
	nucleus := s.TopP > 0 && s.TopP < 1
	if k == n && !nucleus {
		return pick(p, nil, s.rng.Float32()*sum)
	}
	idx := s.idx[:n]
	for i := range idx {
		idx[i] = i
	}
	if nucleus && k == n {
		// Tokens below (1-p)/(n-1) of the total cannot be in the nucleus
		// (run.c's cut).
		cut := float32((1-s.TopP)/float64(n-1)) * sum
		idx = idx[:0]
		for i, v := range p {
			if v >= cut {
				idx = append(idx, i)
			}
		}
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return a - b
	})
	idx = idx[:min(k, len(idx))]
	if nucleus {
		// The nucleus is measured against the whole distribution, or
		// against the top k when top-k applies first (as transformers
		// does); the cut above only dropped tokens that cannot matter.
		total := sum
		if k < n {
			total = 0
			for _, i := range idx {
				total += p[i]
			}
		}
		var cum float32
		for j, i := range idx {
			cum += p[i]
			if float64(cum) >= s.TopP*float64(total) {
				idx = idx[:j+1]
				break
			}
		}
	}
	return pick(p, idx, s.rng.Float32())
}

// pick samples from the unnormalised weights p restricted to idx. With idx
// nil, r is uniform in [0, sum(p)); otherwise r is uniform in [0, 1) and
// the kept weights are renormalised.
func pick(p []float32, idx []int, r float32) int {
	if idx == nil {
		// Skip whole blocks by their sums (eight independent additions
		// at a time, where a running sum waits on each one), then walk
		// the block that reaches r.
		const block = 256
		var cum float32
		i := 0
		for ; i+block <= len(p); i += block {
			s := sum8(p[i : i+block])
			if r < cum+s {
				break
			}
			cum += s
		}
		for ; i < len(p); i++ {
			cum += p[i]
			if r < cum {
				return i
			}
		}
		return len(p) - 1
	}
	var total float32
	for _, i := range idx {
		total += p[i]
	}
	r *= total
	var cum float32
	for _, i := range idx {
		cum += p[i]
		if r < cum {
			return i
		}
	}
	return idx[len(idx)-1]
}

// sum8 returns the sum of x, added in eight interleaved parts.
func sum8(x []float32) float32 {
	var s [8]float32
	i := 0
	for ; i+8 <= len(x); i += 8 {
		v := x[i : i+8 : i+8]
		s[0] += v[0]
		s[1] += v[1]
		s[2] += v[2]
		s[3] += v[3]
		s[4] += v[4]
		s[5] += v[5]
		s[6] += v[6]
		s[7] += v[7]
	}
	for ; i < len(x); i++ {
		s[0] += x[i]
	}
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}
