package llm

import (
	"fmt"
	"math"
)

// Matrix is a row-major weight matrix of Rows x Cols: either F32, or int8
// values I8 with one scale per row (row r is I8[r*Cols:] * Scale[r]).
type Matrix struct {
	Rows, Cols int
	F32        []float32
	I8         []int8
	Scale      []float32
}

// Expert is one MLP of a mixture-of-experts block.
type Expert struct {
	Gate, Up, Down Matrix
}

// Layer is one transformer block's weights.
type Layer struct {
	AttnNorm, MLPNorm []float32
	Q, K, V, O        Matrix
	Gate, Up, Down    Matrix   // the dense SwiGLU MLP (Experts == 0)
	Router            Matrix   // MoE gate: Experts x Dim
	Experts           []Expert // MoE experts
}

// Weights are all of a model's parameters.
type Weights struct {
	Embed  Matrix // Vocab x Dim
	Layers []Layer
	Norm   []float32
	Output Matrix // Vocab x Dim; shares Embed's data when tied
}

// row writes row r of m, dequantized, to dst.
func (m *Matrix) row(r int, dst []float32) {
	if m.I8 != nil {
		s := m.Scale[r]
		for i, q := range m.I8[r*m.Cols : (r+1)*m.Cols] {
			dst[i] = float32(q) * s
		}
		return
	}
	copy(dst, m.F32[r*m.Cols:(r+1)*m.Cols])
}

// bytes returns the size of m's data.
func (m *Matrix) bytes() int64 {
	if m.I8 != nil {
		return int64(len(m.I8)) + 4*int64(len(m.Scale))
	}
	return 4 * int64(len(m.F32))
}

// quantize returns m as int8 with per-row absmax scales.
func quantize(m Matrix) Matrix {
	if m.I8 != nil {
		return m
	}
	q := Matrix{Rows: m.Rows, Cols: m.Cols, I8: make([]int8, m.Rows*m.Cols), Scale: make([]float32, m.Rows)}
	for r := range m.Rows {
		row := m.F32[r*m.Cols : (r+1)*m.Cols]
		var amax float32
		for _, v := range row {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		if amax == 0 {
			continue
		}
		s := amax / 127
		q.Scale[r] = s
		inv := 1 / s
		dst := q.I8[r*m.Cols : (r+1)*m.Cols]
		for i, v := range row {
			dst[i] = int8(math.Round(float64(v * inv)))
		}
	}
	return q
}

// Quantize converts every projection matrix of w to int8 with per-row
// scales, in place (norms and the embedding lookup keep their precision
// except where the embedding is the tied output head).
func (w *Weights) Quantize() {
	qm := func(m *Matrix) { *m = quantize(*m) }
	for i := range w.Layers {
		l := &w.Layers[i]
		for _, m := range []*Matrix{&l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down} {
			if m.F32 != nil {
				qm(m)
			}
		}
		for e := range l.Experts {
			x := &l.Experts[e]
			qm(&x.Gate)
			qm(&x.Up)
			qm(&x.Down)
		}
	}
	qm(&w.Output)
}

// Bytes returns the number of weight bytes one decode step reads: every
// matrix but the embedding (of which one row is read) and, for MoE, only
// ExpertsPerTok experts per layer.
func (w *Weights) Bytes(c *Config) int64 {
	var n int64
	for i := range w.Layers {
		l := &w.Layers[i]
		n += int64(4 * (len(l.AttnNorm) + len(l.MLPNorm)))
		n += l.Q.bytes() + l.K.bytes() + l.V.bytes() + l.O.bytes()
		if c.Experts > 0 {
			n += l.Router.bytes()
			if len(l.Experts) > 0 {
				e := &l.Experts[0]
				n += int64(c.ExpertsPerTok) * (e.Gate.bytes() + e.Up.bytes() + e.Down.bytes())
			}
		} else {
			n += l.Gate.bytes() + l.Up.bytes() + l.Down.bytes()
		}
	}
	return n + int64(4*len(w.Norm)) + w.Output.bytes()
}

// check verifies that w has the shapes c asks for.
func (w *Weights) check(c *Config) error {
	shape := func(name string, m *Matrix, rows, cols int) error {
		if m.Rows != rows || m.Cols != cols {
			return fmt.Errorf("llm: %s is %dx%d, want %dx%d", name, m.Rows, m.Cols, rows, cols)
		}
		n := len(m.F32)
		if m.I8 != nil {
			n = len(m.I8)
			if len(m.Scale) != rows {
				return fmt.Errorf("llm: %s has %d scales for %d rows", name, len(m.Scale), rows)
			}
		}
		if n != rows*cols {
			return fmt.Errorf("llm: %s holds %d values, want %d", name, n, rows*cols)
		}
		return nil
	}
	vec := func(name string, v []float32, n int) error {
		if len(v) != n {
			return fmt.Errorf("llm: %s has %d values, want %d", name, len(v), n)
		}
		return nil
	}
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	if len(w.Layers) != c.Layers {
		return fmt.Errorf("llm: %d layers, want %d", len(w.Layers), c.Layers)
	}
	errs := []error{shape("embed", &w.Embed, c.Vocab, c.Dim), shape("output", &w.Output, c.Vocab, c.Dim), vec("norm", w.Norm, c.Dim)}
	for i := range w.Layers {
		l := &w.Layers[i]
		p := fmt.Sprintf("layer %d ", i)
		errs = append(errs,
			vec(p+"attention norm", l.AttnNorm, c.Dim), vec(p+"mlp norm", l.MLPNorm, c.Dim),
			shape(p+"q", &l.Q, qd, c.Dim), shape(p+"k", &l.K, kvd, c.Dim), shape(p+"v", &l.V, kvd, c.Dim),
			shape(p+"o", &l.O, c.Dim, qd))
		if c.Experts == 0 {
			errs = append(errs, shape(p+"gate", &l.Gate, c.Hidden, c.Dim), shape(p+"up", &l.Up, c.Hidden, c.Dim),
				shape(p+"down", &l.Down, c.Dim, c.Hidden))
			continue
		}
		errs = append(errs, shape(p+"router", &l.Router, c.Experts, c.Dim))
		if len(l.Experts) != c.Experts {
			return fmt.Errorf("llm: layer %d has %d experts, want %d", i, len(l.Experts), c.Experts)
		}
		for e := range l.Experts {
			x := &l.Experts[e]
			q := fmt.Sprintf("%sexpert %d ", p, e)
			errs = append(errs, shape(q+"gate", &x.Gate, c.Hidden, c.Dim), shape(q+"up", &x.Up, c.Hidden, c.Dim),
				shape(q+"down", &x.Down, c.Dim, c.Hidden))
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
