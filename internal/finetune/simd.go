package finetune

import (
	"math"
	"runtime"
	"sync"

	"github.com/viterin/vek/vek32"
)

// scalarKernels routes the float32 matmuls to the portable scalar kernel
// (kernel), as before the SIMD kernels existed; the float64 path always
// uses it. Only benchmarks and tests set it, to compare the two, and never
// while a network runs.
var scalarKernels = false

// vekGemm makes gemm32 use vek32.MatMul_Into on every machine rather than
// fma4x16 where the CPU has AVX2 and FMA (the values are the same). Only
// benchmarks and tests set it.
var vekGemm = false

// Block sizes of gemm32: a gemmKC×gemmPC block of b (at most 1 MiB) stays
// in L2 while rows of a stream past it. Values depend on gemmKC (where the
// inner sums are cut), never on gemmPC.
const (
	gemmPC = 1024 // output columns per tile (at most)
	gemmKC = 256  // inner-dimension chunk
)

// gemmScratch is one worker's packing buffers.
type gemmScratch struct{ a, b, tmp []float32 }

var gemmPool = sync.Pool{New: func() any { return new(gemmScratch) }}

// grow returns s[:n], reallocating when it is too short.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// gemm32 sets (or, with acc, adds to) out (n×p, row-major) the product of
// a (n×k, row-major) and b (k×p, row-major).
//
// It works on blocks of b of gemmKC rows (an inner chunk) by a column
// tile. The SIMD work is fma4x16 (AVX2/FMA assembly, 4 rows of a by 16
// columns at a time) where the CPU has AVX2 and FMA, else
// vek32.MatMul_Into (its AVX2 assembly, or its pure-Go fallback) on one
// row of a at a time. Both compute every output as an in-order chain of
// fused multiply-adds over the chunk, from zero, whatever rows and columns
// the call holds; the chunks' sums are then added to out in chunk order.
// So each value depends only on k and gemmKC, never on how rows and
// column tiles are spread over goroutines: results are the same whatever
// GOMAXPROCS is. They differ from a plain in-order float32 sum by
// rounding only (TestMatmulKernels).
func gemm32(out, a, b []float32, n, k, p int, acc bool) {
	gemm(out, a, b, n, k, p, acc, true)
}

// gemm is gemm32, split over goroutines when par is set, else all on the
// calling one; the values are the same.
func gemm(out, a, b []float32, n, k, p int, acc, par bool) {
	if n == 0 || p == 0 {
		return
	}
	if k == 0 {
		if !acc {
			clear(out[:n*p])
		}
		return
	}
	// Column tiles of w columns, a multiple of 32 (vek32's unrolled
	// width), but the last, which also takes in a 1-wide remainder.
	tiles := (p + gemmPC - 1) / gemmPC
	w := ((p+tiles-1)/tiles + 31) &^ 31
	tiles = (p + w - 1) / w
	if tiles > 1 && p-(tiles-1)*w == 1 {
		tiles--
	}
	// Split rows too when there are fewer column tiles than goroutines,
	// so that each has work; each row block reads all of its tile of b,
	// so no more. This changes no value.
	rowBlocks := 1
	if par {
		procs := runtime.GOMAXPROCS(0)
		rowBlocks = min(n, max(1, (procs+tiles-1)/tiles))
	}
	items := tiles * rowBlocks
	run := func(lo, hi int) {
		s := gemmPool.Get().(*gemmScratch)
		defer gemmPool.Put(s)
		for it := lo; it < hi; it++ {
			tile, rb := it/rowBlocks, it%rowBlocks
			j0, j1 := tile*w, min(p, (tile+1)*w)
			if tile == tiles-1 {
				j1 = p
			}
			i0, i1 := n*rb/rowBlocks, n*(rb+1)/rowBlocks
			gemmBlock(out, a, b, s, n, k, p, i0, i1, j0, j1, acc)
		}
	}
	if !par {
		run(0, items)
		return
	}
	parallel(items, max(1, n*k*p/items), run)
}

// gemmBlock computes rows [i0,i1) and columns [j0,j1) of gemm32's out,
// with 2 ≤ j1−j0 unless p is 1: vek32 computes a one-column product
// another way (as a dot product).
func gemmBlock(out, a, b []float32, s *gemmScratch, n, k, p, i0, i1, j0, j1 int, acc bool) {
	if haveFMA4x16 && !vekGemm {
		gemmBlockFMA(out, a, b, s, k, p, i0, i1, j0, j1, acc)
		return
	}
	pc := j1 - j0
	for l0 := 0; l0 < k; l0 += gemmKC {
		l1 := min(l0+gemmKC, k)
		kc := l1 - l0
		// The block b[l0:l1][j0:j1], packed kc×pc unless it already is.
		var bb []float32
		if pc == p {
			bb = b[l0*p : l1*p]
		} else {
			s.b = grow(s.b, kc*pc)
			bb = s.b
			for l := l0; l < l1; l++ {
				copy(bb[(l-l0)*pc:(l-l0+1)*pc], b[l*p+j0:l*p+j1])
			}
		}
		for i := i0; i < i1; i++ {
			row := out[i*p+j0 : i*p+j1]
			ar := a[i*k+l0 : i*k+l1]
			if l0 == 0 && !acc {
				vek32.MatMul_Into(row, ar, bb, kc)
				continue
			}
			s.tmp = grow(s.tmp, pc)
			vek32.MatMul_Into(s.tmp, ar, bb, kc)
			vek32.Add_Inplace(row, s.tmp)
		}
	}
}

// gemmBlockFMA is gemmBlock with the fma4x16 micro-kernel, on blocks of 4
// rows by 16 columns, the block of b packed with zero columns up to a
// multiple of 16 wide and the last rows of a with zero rows up to 4. The
// values are vek32's: every chunk's sum an in-order chain of fused
// multiply-adds from zero, then added to out in chunk order.
func gemmBlockFMA(out, a, b []float32, s *gemmScratch, k, p, i0, i1, j0, j1 int, acc bool) {
	pc := j1 - j0
	pcp := (pc + 15) &^ 15
	s.tmp = grow(s.tmp, 4*pcp)
	for l0 := 0; l0 < k; l0 += gemmKC {
		l1 := min(l0+gemmKC, k)
		kc := l1 - l0
		var bb []float32
		if pc == p && pc == pcp {
			bb = b[l0*p : l1*p]
		} else {
			s.b = grow(s.b, kc*pcp)
			bb = s.b
			for l := l0; l < l1; l++ {
				r := bb[(l-l0)*pcp : (l-l0+1)*pcp]
				copy(r, b[l*p+j0:l*p+j1])
				clear(r[pc:])
			}
		}
		for i := i0; i < i1; i += 4 {
			r := min(4, i1-i)
			ap, lda := &a[i*k+l0], k
			if r < 4 {
				s.a = grow(s.a, 4*kc)
				for ii := range 4 {
					if ii < r {
						copy(s.a[ii*kc:(ii+1)*kc], a[(i+ii)*k+l0:(i+ii)*k+l1])
					} else {
						clear(s.a[ii*kc : (ii+1)*kc])
					}
				}
				ap, lda = &s.a[0], kc
			} else {
				_ = a[(i+3)*k+l1-1] // the kernel reads up to here
			}
			_, _ = bb[kc*pcp-1], s.tmp[4*pcp-1] // the kernel's last reads and writes
			for j := 0; j < pcp; j += 16 {
				fma4x16(ap, lda, &bb[j], pcp, kc, &s.tmp[j], pcp)
			}
			for ii := range r {
				row := out[(i+ii)*p+j0 : (i+ii)*p+j1]
				t := s.tmp[ii*pcp : ii*pcp+pc]
				if l0 == 0 && !acc {
					copy(row, t)
				} else {
					vek32.Add_Inplace(row, t)
				}
			}
		}
	}
}

// transposeParallel is transpose split over goroutines by rows of dst.
func transposeParallel[T float](dst, a []T, r, c int) []T {
	dst = dst[:r*c]
	const b = 32
	parallel((c+b-1)/b, b*r, func(lo, hi int) {
		for jb := lo * b; jb < min(hi*b, c); jb += b {
			for ib := 0; ib < r; ib += b {
				for i := ib; i < min(ib+b, r); i++ {
					for j := jb; j < min(jb+b, c); j++ {
						dst[j*r+i] = a[i*c+j]
					}
				}
			}
		}
	})
	return dst
}

// attnScratch is one worker's buffers for the float32 attention.
type attnScratch struct {
	qh, kg, kgT, vg, vgT, oh, dyh, dqh, dkg, dvg, dp, dsT, pT []float32
}

var attnPool = sync.Pool{New: func() any { return new(attnScratch) }}

// gather copies columns [off,off+w) of the n rows of src (row length
// stride) into buf, n×w, and returns it.
func gather(buf *[]float32, src []float32, n, stride, off, w int) []float32 {
	*buf = grow(*buf, n*w)
	d := *buf
	for t := range n {
		copy(d[t*w:(t+1)*w], src[t*stride+off:t*stride+off+w])
	}
	return d
}

// gatherT is gather transposed: buf is w×n.
func gatherT(buf *[]float32, src []float32, n, stride, off, w int) []float32 {
	*buf = grow(*buf, n*w)
	d := *buf
	for t := range n {
		for i, v := range src[t*stride+off : t*stride+off+w] {
			d[i*n+t] = v
		}
	}
	return d
}

// scatterAdd adds the n×w matrix m to columns [off,off+w) of dst's n rows
// (row length stride).
func scatterAdd(dst, m []float32, n, stride, off, w int) {
	for t := range n {
		vek32.Add_Inplace(dst[t*stride+off:t*stride+off+w], m[t*w:(t+1)*w])
	}
}

// attentionForward32 is attentionForward's float32 SIMD path: per query
// head, the scores Q·Kᵀ and the output P·V are gemm products (the scores
// of the whole n×n square, of which the causal part is kept), and the
// softmax runs on vek32 (Exp of arguments clamped at expFloor). p gets
// every row in full, zero outside first(t)..t, as attentionBackward32
// needs.
func attentionForward32(out, p, q, k, v []float32, a attnShape) {
	n, hd := a.n, a.hd
	qd, kvd := a.heads*hd, a.kvHeads*hd
	group := a.heads / a.kvHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	parallel(a.heads, n*n*hd, func(lo, hi int) {
		s := attnPool.Get().(*attnScratch)
		defer attnPool.Put(s)
		for h := lo; h < hi; h++ {
			off := (h / group) * hd
			qh := gather(&s.qh, q, n, qd, h*hd, hd)
			kgT := gatherT(&s.kgT, k, n, kvd, off, hd)
			vg := gather(&s.vg, v, n, kvd, off, hd)
			ph := p[h*n*n : (h+1)*n*n]
			gemm(ph, qh, kgT, n, hd, n, false, false)
			for t := range n {
				f := a.first(t)
				row := ph[t*n : (t+1)*n]
				seg := row[f : t+1]
				vek32.MulNumber_Inplace(seg, scale)
				vek32.AddNumber_Inplace(seg, -vek32.Max(seg))
				vek32.MaximumNumber_Inplace(seg, expFloor)
				vek32.Exp_Inplace(seg)
				vek32.MulNumber_Inplace(seg, 1/vek32.Sum(seg))
				clear(row[:f])
				clear(row[t+1:])
			}
			s.oh = grow(s.oh, n*hd)
			gemm(s.oh, ph, vg, n, n, hd, false, false)
			for t := range n {
				copy(out[t*qd+h*hd:t*qd+(h+1)*hd], s.oh[t*hd:(t+1)*hd])
			}
		}
	})
}

// attentionBackward32 is attentionBackward's float32 SIMD path, with
// attentionForward32's p: per query head, dP = dY·Vᵀ, dS = P⊙(dP −
// rowsum(dP⊙P))·scale, dQ += dS·K, dK += dSᵀ·Q and dV += Pᵀ·dY, all gemm
// products; work is split by key/value head, whose query heads run in
// order.
func attentionBackward32(dq, dk, dv, dout, p, q, k, v []float32, a attnShape) {
	n, hd := a.n, a.hd
	qd, kvd := a.heads*hd, a.kvHeads*hd
	group := a.heads / a.kvHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	parallel(a.kvHeads, group*n*n*hd, func(lo, hi int) {
		s := attnPool.Get().(*attnScratch)
		defer attnPool.Put(s)
		for g := lo; g < hi; g++ {
			off := g * hd
			kg := gather(&s.kg, k, n, kvd, off, hd)
			vgT := gatherT(&s.vgT, v, n, kvd, off, hd)
			s.dkg, s.dvg = grow(s.dkg, n*hd), grow(s.dvg, n*hd)
			clear(s.dkg)
			clear(s.dvg)
			for h := g * group; h < (g+1)*group; h++ {
				ph := p[h*n*n : (h+1)*n*n]
				dyh := gather(&s.dyh, dout, n, qd, h*hd, hd)
				qh := gather(&s.qh, q, n, qd, h*hd, hd)
				s.dp = grow(s.dp, n*n)
				ds := s.dp
				gemm(ds, dyh, vgT, n, hd, n, false, false)
				for t := range n {
					f := a.first(t)
					pr, dr := ph[t*n+f:t*n+t+1], ds[t*n+f:t*n+t+1]
					vek32.AddNumber_Inplace(dr, -vek32.Dot(pr, dr))
					vek32.Mul_Inplace(dr, pr)
					vek32.MulNumber_Inplace(dr, scale)
					clear(ds[t*n : t*n+f])
					clear(ds[t*n+t+1 : (t+1)*n])
				}
				s.dqh = grow(s.dqh, n*hd)
				gemm(s.dqh, ds, kg, n, n, hd, false, false)
				scatterAdd(dq, s.dqh, n, qd, h*hd, hd)
				s.dsT = grow(s.dsT, n*n)
				gemm(s.dkg, transpose(s.dsT, ds, n, n), qh, n, n, hd, true, false)
				s.pT = grow(s.pT, n*n)
				gemm(s.dvg, transpose(s.pT, ph, n, n), dyh, n, n, hd, true, false)
			}
			scatterAdd(dk, s.dkg, n, kvd, off, hd)
			scatterAdd(dv, s.dvg, n, kvd, off, hd)
		}
	})
}
