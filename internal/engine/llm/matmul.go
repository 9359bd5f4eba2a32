package llm

// matJob is one matrix product in a matmul call: out[n] = W · in[n] for
// each of the batch's rows n, where out rows are out.Rows... long.
type matJob struct {
	w   *Matrix
	out []float32 // N x w.Rows
}

// matmul computes, for every job, out[n*w.Rows+r] = dot(W row r, in row n)
// for the n input rows of in (each cols long). The weight rows are split
// among the pool's workers in blocks of four; each block is read once and
// applied to all n input rows while it is in cache.
func (m *Model) matmul(in []float32, n, cols int, jobs ...matJob) {
	total := 0
	for _, j := range jobs {
		total += j.w.Rows
	}
	// Hand out blocks of 4 rows, contiguous per worker.
	blocks := (total + 3) / 4
	m.pool.parallel(func(w int) {
		lo := blocks * w / m.pool.n * 4
		hi := min(blocks*(w+1)/m.pool.n*4, total)
		base := 0
		for _, j := range jobs {
			r0, r1 := max(lo-base, 0), min(hi-base, j.w.Rows)
			if r0 < r1 {
				matRows(j.w, in, n, cols, j.out, r0, r1)
			}
			base += j.w.Rows
		}
	})
}

// matRows computes rows [r0, r1) of one matrix product.
func matRows(w *Matrix, in []float32, n, cols int, out []float32, r0, r1 int) {
	rows := w.Rows
	var acc [4]float32
	r := r0
	if w.I8 != nil {
		for ; r+4 <= r1; r += 4 {
			wr := w.I8[r*cols : (r+4)*cols]
			s := w.Scale[r : r+4 : r+4]
			for i := range n {
				dot4I8(wr, cols, in[i*cols:(i+1)*cols], &acc)
				o := out[i*rows+r : i*rows+r+4 : i*rows+r+4]
				o[0], o[1], o[2], o[3] = acc[0]*s[0], acc[1]*s[1], acc[2]*s[2], acc[3]*s[3]
			}
		}
		for ; r < r1; r++ {
			for i := range n {
				out[i*rows+r] = dotI8Go(w.I8[r*cols:(r+1)*cols], in[i*cols:(i+1)*cols]) * w.Scale[r]
			}
		}
		return
	}
	var acc2 [8]float32
	var acc4 [16]float32
	var acc8 [32]float32
	for ; r+4 <= r1; r += 4 {
		wr := w.F32[r*cols : (r+4)*cols]
		i := 0
		if useAVX512 {
			// Eight, then four input rows at a time: each weight load
			// feeds eight or four FMAs, and each result is the one dot4
			// gives for its row alone.
			for ; i+8 <= n; i += 8 {
				dot4x8(wr, cols, in[i*cols:(i+8)*cols], cols, &acc8)
				for c := range 8 {
					copy(out[(i+c)*rows+r:(i+c)*rows+r+4], acc8[4*c:4*c+4])
				}
			}
			for ; i+4 <= n; i += 4 {
				dot4x4(wr, cols, in[i*cols:(i+4)*cols], cols, &acc4)
				for c := range 4 {
					copy(out[(i+c)*rows+r:(i+c)*rows+r+4], acc4[4*c:4*c+4])
				}
			}
		} else {
			// Two input rows at a time: each weight load feeds two FMAs.
			for ; i+2 <= n; i += 2 {
				dot4x2(wr, cols, in[i*cols:(i+2)*cols], cols, &acc2)
				copy(out[i*rows+r:i*rows+r+4], acc2[:4])
				copy(out[(i+1)*rows+r:(i+1)*rows+r+4], acc2[4:])
			}
		}
		for ; i < n; i++ {
			dot4(wr, cols, in[i*cols:(i+1)*cols], &acc)
			copy(out[i*rows+r:i*rows+r+4], acc[:])
		}
	}
	for ; r < r1; r++ {
		for i := range n {
			out[i*rows+r] = dot(w.F32[r*cols:(r+1)*cols], in[i*cols:(i+1)*cols])
		}
	}
}
