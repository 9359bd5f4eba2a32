package modelgen

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"strata/internal/hf"
	"strata/internal/safetensors"
)

// Tensors returns the tensors Generate writes, in file order, with the
// exact Hugging Face names and shapes of hf.ExpectedTensors.
func (s Spec) Tensors() []safetensors.TensorSpec {
	c := &s.Config
	shapes := hf.ExpectedTensors(c)
	dt := s.dtype()
	var out []safetensors.TensorSpec
	add := func(name string) {
		out = append(out, safetensors.TensorSpec{Name: name, DType: dt, Shape: shapes[name]})
	}
	add("model.embed_tokens.weight")
	for l := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.", l)
		add(p + "input_layernorm.weight")
		for _, m := range []string{"q", "k", "v", "o"} {
			add(p + "self_attn." + m + "_proj.weight")
		}
		add(p + "post_attention_layernorm.weight")
		if c.Architecture() == hf.Mixtral {
			add(p + "block_sparse_moe.gate.weight")
			for e := range c.NumLocalExperts {
				for _, w := range []string{"w1", "w2", "w3"} {
					add(fmt.Sprintf("%sblock_sparse_moe.experts.%d.%s.weight", p, e, w))
				}
			}
			continue
		}
		for _, m := range []string{"gate", "up", "down"} {
			add(p + "mlp." + m + "_proj.weight")
		}
	}
	add("model.norm.weight")
	if !c.TieWordEmbeddings {
		add("lm_head.weight")
	}
	return out
}

// dist returns the uniform distribution of a tensor's elements: values in
// [center-half, center+half).
func dist(name string, shape []int64) (center, half float32) {
	switch {
	case strings.HasSuffix(name, "norm.weight"):
		return 1, 0.1
	case strings.HasSuffix(name, "embed_tokens.weight"):
		// Small, as trained models' embeddings are: with tied embeddings a
		// large scale makes every token predict itself (and run.c stops
		// at the first BOS it predicts).
		return 0, 0.05
	}
	in := shape[len(shape)-1]
	return 0, float32(1 / math.Sqrt(float64(in)))
}

func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}

const golden = 0x9e3779b97f4a7c15

func (s Spec) key(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return mix64(s.Seed ^ h.Sum64())
}

// Values fills dst with the values of the named tensor starting at flat
// element offset (row-major), as stored in the generated files (rounded
// to Spec.DType, then widened back to float32). It panics if name is not
// one of s.Tensors().
func (s Spec) Values(name string, offset int64, dst []float32) {
	shape, ok := hf.ExpectedTensors(&s.Config)[name]
	if !ok {
		panic("modelgen: no tensor " + name)
	}
	s.values(name, shape, offset, dst)
}

func (s Spec) values(name string, shape []int64, offset int64, dst []float32) {
	center, half := dist(name, shape)
	fill(dst, s.key(name), offset, center, half)
	switch s.dtype() {
	case safetensors.F16:
		for i, v := range dst {
			dst[i] = safetensors.F16ToF32(safetensors.F32ToF16(v))
		}
	case safetensors.BF16:
		for i, v := range dst {
			dst[i] = safetensors.BF16ToF32(safetensors.F32ToBF16(v))
		}
	}
}

// fill sets dst[i] to element offset+i of the stream keyed by key: element
// j takes 23 random bits from half of mix64(key + (j/2)·golden), giving a
// float uniform in [center-half, center+half).
func fill(dst []float32, key uint64, offset int64, center, half float32) {
	scale := 2 * half
	base := center - half
	i := 0
	j := uint64(offset)
	if j&1 == 1 && len(dst) > 0 {
		u := mix64(key + (j>>1)*golden)
		dst[0] = unit(uint32(u>>32))*scale + base
		i, j = 1, j+1
	}
	for ; i+1 < len(dst); i, j = i+2, j+2 {
		u := mix64(key + (j>>1)*golden)
		dst[i] = unit(uint32(u))*scale + base
		dst[i+1] = unit(uint32(u>>32))*scale + base
	}
	if i < len(dst) {
		u := mix64(key + (j>>1)*golden)
		dst[i] = unit(uint32(u))*scale + base
	}
}

// unit maps 23 bits of r to a float in [0, 1).
func unit(r uint32) float32 {
	return math.Float32frombits(0x3f800000|r>>9) - 1
}

// chunkElems is how many elements are generated and written at a time.
const chunkElems = 256 << 10

// chunk is one piece of tensor data being generated.
type chunk struct {
	t    safetensors.TensorSpec
	off  int64 // first element
	n    int   // elements
	buf  []byte
	done chan struct{}
}

// encode generates the chunk's values and encodes them as its dtype.
func (s Spec) encode(c *chunk, scratch []float32) {
	center, half := dist(c.t.Name, c.t.Shape)
	vals := scratch[:c.n]
	fill(vals, s.key(c.t.Name), c.off, center, half)
	switch c.t.DType {
	case safetensors.F32:
		c.buf = c.buf[:4*c.n]
		for i, v := range vals {
			binary.LittleEndian.PutUint32(c.buf[4*i:], math.Float32bits(v))
		}
	case safetensors.F16:
		c.buf = c.buf[:2*c.n]
		for i, v := range vals {
			binary.LittleEndian.PutUint16(c.buf[2*i:], safetensors.F32ToF16(v))
		}
	case safetensors.BF16:
		c.buf = c.buf[:2*c.n]
		for i, v := range vals {
			binary.LittleEndian.PutUint16(c.buf[2*i:], safetensors.F32ToBF16(v))
		}
	}
}

// writeData streams the tensors' data to w in order. GOMAXPROCS workers
// generate chunks concurrently while this goroutine writes finished ones,
// with a bounded number of chunk buffers in flight.
func (s Spec) writeData(w io.Writer, ts []safetensors.TensorSpec) error {
	workers := runtime.GOMAXPROCS(0)
	inFlight := 2 * workers
	pool := make(chan []byte, inFlight)
	for range inFlight {
		pool <- make([]byte, 4*chunkElems)
	}
	work := make(chan *chunk)
	order := make(chan *chunk, inFlight)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			scratch := make([]float32, chunkElems)
			for c := range work {
				s.encode(c, scratch)
				close(c.done)
			}
		})
	}
	go func() {
		defer close(order)
		defer close(work)
		for _, t := range ts {
			n := int64(1)
			for _, d := range t.Shape {
				n *= d
			}
			for off := int64(0); off < n; off += chunkElems {
				var buf []byte
				select {
				case buf = <-pool:
				case <-stop:
					return
				}
				c := &chunk{t: t, off: off, n: int(min(chunkElems, n-off)), buf: buf, done: make(chan struct{})}
				select {
				case work <- c:
				case <-stop:
					return
				}
				order <- c
			}
		}
	}()
	var err error
	for c := range order {
		<-c.done
		if err == nil {
			if _, werr := w.Write(c.buf); werr != nil {
				err = fmt.Errorf("tensor %s: %w", c.t.Name, werr)
				close(stop)
			}
		}
		pool <- c.buf[:cap(c.buf)]
	}
	wg.Wait()
	return err
}

// shardTensors splits the tensors into n contiguous groups of about equal
// byte size, each non-empty.
func shardTensors(ts []safetensors.TensorSpec, n int) [][]safetensors.TensorSpec {
	n = max(1, min(n, len(ts)))
	size := func(t safetensors.TensorSpec) int64 {
		b := int64(t.DType.Size())
		for _, d := range t.Shape {
			b *= d
		}
		return b
	}
	var total int64
	for _, t := range ts {
		total += size(t)
	}
	groups := make([][]safetensors.TensorSpec, 0, n)
	var acc int64
	start := 0
	for i, t := range ts {
		acc += size(t)
		remainingTensors := len(ts) - i - 1
		remainingGroups := n - len(groups) - 1
		if remainingGroups == 0 {
			break
		}
		if acc*int64(n) >= total*int64(len(groups)+1) || remainingTensors == remainingGroups {
			groups = append(groups, slices.Clone(ts[start:i+1]))
			start = i + 1
		}
	}
	return append(groups, slices.Clone(ts[start:]))
}
