#include "textflag.h"

// AVX-512 kernels. Both keep one accumulator per (row, vector) pair, add
// the 16-value chunks in order, and reduce each accumulator with the same
// tree (lanes i+8, then i+4, then i+2, then i+1), so a dot product comes
// out bit for bit the same whether its vector was in a batch or alone.

// func dot4x4AVX512(w *float32, stride int, x *float32, xstride int, n int, out *[16]float32, pf int)
// out[4*c+r] = dot(w+r*stride, x+c*xstride) over n values (a multiple of
// 16), for rows r < 4 and vectors c < 4. Accumulator Z(4r+c). It
// prefetches the 16*n bytes from w+pf, as dot4AVX512 does: with four
// vectors' work per weight line, the hardware prefetcher alone leaves the
// loop waiting on memory.
TEXT ·dot4x4AVX512(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	SHLQ $2, BX
	MOVQ x+16(FP), DI
	MOVQ xstride+24(FP), DX
	SHLQ $2, DX
	MOVQ n+32(FP), CX
	LEAQ (SI)(BX*1), R8
	LEAQ (R8)(BX*1), R9
	LEAQ (R9)(BX*1), R10
	LEAQ (DI)(DX*1), R11
	LEAQ (R11)(DX*1), R12
	LEAQ (R12)(DX*1), R13
	MOVQ pf+48(FP), DX
	ADDQ SI, DX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	XORQ AX, AX
	SHRQ $4, CX
	JZ   x4reduce

x4loop:
	PREFETCHT0  (DX)(AX*4)
	PREFETCHT0  64(DX)(AX*4)
	PREFETCHT0  128(DX)(AX*4)
	PREFETCHT0  192(DX)(AX*4)
	VMOVUPS     (SI)(AX*1), Z16
	VMOVUPS     (R8)(AX*1), Z17
	VMOVUPS     (R9)(AX*1), Z18
	VMOVUPS     (R10)(AX*1), Z19
	VMOVUPS     (DI)(AX*1), Z20
	VFMADD231PS Z20, Z16, Z0
	VFMADD231PS Z20, Z17, Z4
	VFMADD231PS Z20, Z18, Z8
	VFMADD231PS Z20, Z19, Z12
	VMOVUPS     (R11)(AX*1), Z21
	VFMADD231PS Z21, Z16, Z1
	VFMADD231PS Z21, Z17, Z5
	VFMADD231PS Z21, Z18, Z9
	VFMADD231PS Z21, Z19, Z13
	VMOVUPS     (R12)(AX*1), Z22
	VFMADD231PS Z22, Z16, Z2
	VFMADD231PS Z22, Z17, Z6
	VFMADD231PS Z22, Z18, Z10
	VFMADD231PS Z22, Z19, Z14
	VMOVUPS     (R13)(AX*1), Z23
	VFMADD231PS Z23, Z16, Z3
	VFMADD231PS Z23, Z17, Z7
	VFMADD231PS Z23, Z18, Z11
	VFMADD231PS Z23, Z19, Z15
	ADDQ        $64, AX
	DECQ        CX
	JNZ         x4loop

x4reduce:
	// Lanes i and i+8: pairs of accumulators of one row into Z16..Z23.
	VSHUFF32X4 $0x44, Z1, Z0, Z24
	VSHUFF32X4 $0xEE, Z1, Z0, Z25
	VADDPS     Z25, Z24, Z16
	VSHUFF32X4 $0x44, Z3, Z2, Z24
	VSHUFF32X4 $0xEE, Z3, Z2, Z25
	VADDPS     Z25, Z24, Z17
	VSHUFF32X4 $0x44, Z5, Z4, Z24
	VSHUFF32X4 $0xEE, Z5, Z4, Z25
	VADDPS     Z25, Z24, Z18
	VSHUFF32X4 $0x44, Z7, Z6, Z24
	VSHUFF32X4 $0xEE, Z7, Z6, Z25
	VADDPS     Z25, Z24, Z19
	VSHUFF32X4 $0x44, Z9, Z8, Z24
	VSHUFF32X4 $0xEE, Z9, Z8, Z25
	VADDPS     Z25, Z24, Z20
	VSHUFF32X4 $0x44, Z11, Z10, Z24
	VSHUFF32X4 $0xEE, Z11, Z10, Z25
	VADDPS     Z25, Z24, Z21
	VSHUFF32X4 $0x44, Z13, Z12, Z24
	VSHUFF32X4 $0xEE, Z13, Z12, Z25
	VADDPS     Z25, Z24, Z22
	VSHUFF32X4 $0x44, Z15, Z14, Z24
	VSHUFF32X4 $0xEE, Z15, Z14, Z25
	VADDPS     Z25, Z24, Z23

	// Lanes i and i+4: one row's four vectors per register, Z0..Z3, with
	// vector c's four partial sums in 128-bit lane c.
	VSHUFF32X4 $0x88, Z17, Z16, Z24
	VSHUFF32X4 $0xDD, Z17, Z16, Z25
	VADDPS     Z25, Z24, Z0
	VSHUFF32X4 $0x88, Z19, Z18, Z24
	VSHUFF32X4 $0xDD, Z19, Z18, Z25
	VADDPS     Z25, Z24, Z1
	VSHUFF32X4 $0x88, Z21, Z20, Z24
	VSHUFF32X4 $0xDD, Z21, Z20, Z25
	VADDPS     Z25, Z24, Z2
	VSHUFF32X4 $0x88, Z23, Z22, Z24
	VSHUFF32X4 $0xDD, Z23, Z22, Z25
	VADDPS     Z25, Z24, Z3

	// Lanes i and i+2, then i and i+1, within each 128-bit lane.
	VSHUFPS $0x44, Z1, Z0, Z24
	VSHUFPS $0xEE, Z1, Z0, Z25
	VADDPS  Z25, Z24, Z4
	VSHUFPS $0x44, Z3, Z2, Z24
	VSHUFPS $0xEE, Z3, Z2, Z25
	VADDPS  Z25, Z24, Z5
	VSHUFPS $0x88, Z5, Z4, Z24
	VSHUFPS $0xDD, Z5, Z4, Z25
	VADDPS  Z25, Z24, Z6
	MOVQ    out+40(FP), DX
	VMOVUPS Z6, (DX)
	VZEROUPPER
	RET

// func dot2x8AVX512(w *float32, stride int, x *float32, xstride int, n int, out *[16]float32, pf int)
// out[2*c+r] = dot(w+r*stride, x+c*xstride) over n values (a multiple of
// 16), for rows r < 2 and vectors c < 8: each weight line is loaded once
// for eight vectors. It prefetches 8*n bytes from w+pf (two later rows).
// Row r's accumulator for vector c is Z(8*(c%2)+4*r+c/2), which the
// reduction of dot4x4AVX512 leaves in lane 2*c+r.
TEXT ·dot2x8AVX512(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	SHLQ $2, BX
	LEAQ (SI)(BX*1), R8
	MOVQ pf+48(FP), DX
	ADDQ SI, DX
	MOVQ x+16(FP), DI
	MOVQ xstride+24(FP), BX
	SHLQ $2, BX
	MOVQ n+32(FP), CX
	LEAQ (DI)(BX*1), R9
	LEAQ (R9)(BX*1), R10
	LEAQ (R10)(BX*1), R11
	LEAQ (R11)(BX*1), R12
	LEAQ (R12)(BX*1), R13
	LEAQ (R13)(BX*1), R14
	LEAQ (R14)(BX*1), BX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	XORQ AX, AX
	SHRQ $4, CX
	JZ   x8reduce

x8loop:
	PREFETCHT0  (DX)(AX*2)
	PREFETCHT0  64(DX)(AX*2)
	VMOVUPS     (SI)(AX*1), Z16
	VMOVUPS     (R8)(AX*1), Z17
	VMOVUPS     (DI)(AX*1), Z18
	VFMADD231PS Z18, Z16, Z0
	VFMADD231PS Z18, Z17, Z4
	VMOVUPS     (R9)(AX*1), Z19
	VFMADD231PS Z19, Z16, Z8
	VFMADD231PS Z19, Z17, Z12
	VMOVUPS     (R10)(AX*1), Z20
	VFMADD231PS Z20, Z16, Z1
	VFMADD231PS Z20, Z17, Z5
	VMOVUPS     (R11)(AX*1), Z21
	VFMADD231PS Z21, Z16, Z9
	VFMADD231PS Z21, Z17, Z13
	VMOVUPS     (R12)(AX*1), Z22
	VFMADD231PS Z22, Z16, Z2
	VFMADD231PS Z22, Z17, Z6
	VMOVUPS     (R13)(AX*1), Z23
	VFMADD231PS Z23, Z16, Z10
	VFMADD231PS Z23, Z17, Z14
	VMOVUPS     (R14)(AX*1), Z18
	VFMADD231PS Z18, Z16, Z3
	VFMADD231PS Z18, Z17, Z7
	VMOVUPS     (BX)(AX*1), Z19
	VFMADD231PS Z19, Z16, Z11
	VFMADD231PS Z19, Z17, Z15
	ADDQ        $64, AX
	DECQ        CX
	JNZ         x8loop

x8reduce:
	// The reduction of dot4x4AVX512.
	VSHUFF32X4 $0x44, Z1, Z0, Z24
	VSHUFF32X4 $0xEE, Z1, Z0, Z25
	VADDPS     Z25, Z24, Z16
	VSHUFF32X4 $0x44, Z3, Z2, Z24
	VSHUFF32X4 $0xEE, Z3, Z2, Z25
	VADDPS     Z25, Z24, Z17
	VSHUFF32X4 $0x44, Z5, Z4, Z24
	VSHUFF32X4 $0xEE, Z5, Z4, Z25
	VADDPS     Z25, Z24, Z18
	VSHUFF32X4 $0x44, Z7, Z6, Z24
	VSHUFF32X4 $0xEE, Z7, Z6, Z25
	VADDPS     Z25, Z24, Z19
	VSHUFF32X4 $0x44, Z9, Z8, Z24
	VSHUFF32X4 $0xEE, Z9, Z8, Z25
	VADDPS     Z25, Z24, Z20
	VSHUFF32X4 $0x44, Z11, Z10, Z24
	VSHUFF32X4 $0xEE, Z11, Z10, Z25
	VADDPS     Z25, Z24, Z21
	VSHUFF32X4 $0x44, Z13, Z12, Z24
	VSHUFF32X4 $0xEE, Z13, Z12, Z25
	VADDPS     Z25, Z24, Z22
	VSHUFF32X4 $0x44, Z15, Z14, Z24
	VSHUFF32X4 $0xEE, Z15, Z14, Z25
	VADDPS     Z25, Z24, Z23

	VSHUFF32X4 $0x88, Z17, Z16, Z24
	VSHUFF32X4 $0xDD, Z17, Z16, Z25
	VADDPS     Z25, Z24, Z0
	VSHUFF32X4 $0x88, Z19, Z18, Z24
	VSHUFF32X4 $0xDD, Z19, Z18, Z25
	VADDPS     Z25, Z24, Z1
	VSHUFF32X4 $0x88, Z21, Z20, Z24
	VSHUFF32X4 $0xDD, Z21, Z20, Z25
	VADDPS     Z25, Z24, Z2
	VSHUFF32X4 $0x88, Z23, Z22, Z24
	VSHUFF32X4 $0xDD, Z23, Z22, Z25
	VADDPS     Z25, Z24, Z3

	VSHUFPS $0x44, Z1, Z0, Z24
	VSHUFPS $0xEE, Z1, Z0, Z25
	VADDPS  Z25, Z24, Z4
	VSHUFPS $0x44, Z3, Z2, Z24
	VSHUFPS $0xEE, Z3, Z2, Z25
	VADDPS  Z25, Z24, Z5
	VSHUFPS $0x88, Z5, Z4, Z24
	VSHUFPS $0xDD, Z5, Z4, Z25
	VADDPS  Z25, Z24, Z6
	MOVQ    out+40(FP), DX
	VMOVUPS Z6, (DX)
	VZEROUPPER
	RET

// func dot4AVX512(w *float32, stride int, x *float32, n int, out *[4]float32, pf int)
// out[r] = dot(w+r*stride, x) over n values (a multiple of 16), r < 4. It
// prefetches the 16*n bytes from w+pf (four later rows, when they follow
// rows 0 to 3 contiguously).
TEXT ·dot4AVX512(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	SHLQ $2, BX
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	LEAQ (SI)(BX*1), R8
	LEAQ (R8)(BX*1), R9
	LEAQ (R9)(BX*1), R10
	MOVQ pf+40(FP), DX
	ADDQ SI, DX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	XORQ AX, AX
	SHRQ $4, CX
	JZ   z4reduce

z4loop:
	PREFETCHT0  (DX)(AX*4)
	PREFETCHT0  64(DX)(AX*4)
	PREFETCHT0  128(DX)(AX*4)
	PREFETCHT0  192(DX)(AX*4)
	VMOVUPS     (DI)(AX*1), Z16
	VFMADD231PS (SI)(AX*1), Z16, Z0
	VFMADD231PS (R8)(AX*1), Z16, Z1
	VFMADD231PS (R9)(AX*1), Z16, Z2
	VFMADD231PS (R10)(AX*1), Z16, Z3
	ADDQ        $64, AX
	DECQ        CX
	JNZ         z4loop

z4reduce:
	// The same tree as dot4x4AVX512: lanes i and i+8, then i and i+4
	// (row r's partial sums in 128-bit lane r), then i+2 and i+1.
	VSHUFF32X4 $0x44, Z1, Z0, Z24
	VSHUFF32X4 $0xEE, Z1, Z0, Z25
	VADDPS     Z25, Z24, Z16
	VSHUFF32X4 $0x44, Z3, Z2, Z24
	VSHUFF32X4 $0xEE, Z3, Z2, Z25
	VADDPS     Z25, Z24, Z17
	VSHUFF32X4 $0x88, Z17, Z16, Z24
	VSHUFF32X4 $0xDD, Z17, Z16, Z25
	VADDPS     Z25, Z24, Z0
	VSHUFPS    $0xEE, Z0, Z0, Z24
	VADDPS     Z24, Z0, Z1
	VSHUFPS    $0x55, Z1, Z1, Z24
	VADDPS     Z24, Z1, Z2
	MOVQ       $0x1111, AX
	KMOVW      AX, K1
	VCOMPRESSPS Z2, K1, Z3
	MOVQ       out+32(FP), DX
	VMOVUPS    X3, (DX)
	VZEROUPPER
	RET

// func wsumAVX512(a *float32, v *float32, stride int, n int, hd int, out *float32)
// out[:hd] += sum over p < n of a[p] * v[p*stride : p*stride+hd], added in
// order of p, for n >= 1 and hd a multiple of 16 up to 128. The sums stay in
// registers Z0..Z7; only the first hd/16 are used.
TEXT ·wsumAVX512(SB), NOSPLIT, $0-48
	MOVQ a+0(FP), SI
	MOVQ v+8(FP), DI
	MOVQ stride+16(FP), BX
	SHLQ $2, BX
	MOVQ n+24(FP), CX
	MOVQ hd+32(FP), DX
	SHRQ $4, DX
	MOVQ out+40(FP), R8
	VMOVUPS (R8), Z0
	CMPQ    DX, $2
	JB      wsloop
	VMOVUPS 64(R8), Z1
	CMPQ    DX, $3
	JB      wsloop
	VMOVUPS 128(R8), Z2
	CMPQ    DX, $4
	JB      wsloop
	VMOVUPS 192(R8), Z3
	CMPQ    DX, $5
	JB      wsloop
	VMOVUPS 256(R8), Z4
	CMPQ    DX, $6
	JB      wsloop
	VMOVUPS 320(R8), Z5
	CMPQ    DX, $7
	JB      wsloop
	VMOVUPS 384(R8), Z6
	CMPQ    DX, $8
	JB      wsloop
	VMOVUPS 448(R8), Z7

wsloop:
	VBROADCASTSS (SI), Z16
	VFMADD231PS  (DI), Z16, Z0
	CMPQ         DX, $2
	JB           wsnext
	VFMADD231PS  64(DI), Z16, Z1
	CMPQ         DX, $3
	JB           wsnext
	VFMADD231PS  128(DI), Z16, Z2
	CMPQ         DX, $4
	JB           wsnext
	VFMADD231PS  192(DI), Z16, Z3
	CMPQ         DX, $5
	JB           wsnext
	VFMADD231PS  256(DI), Z16, Z4
	CMPQ         DX, $6
	JB           wsnext
	VFMADD231PS  320(DI), Z16, Z5
	CMPQ         DX, $7
	JB           wsnext
	VFMADD231PS  384(DI), Z16, Z6
	CMPQ         DX, $8
	JB           wsnext
	VFMADD231PS  448(DI), Z16, Z7

wsnext:
	ADDQ $4, SI
	ADDQ BX, DI
	DECQ CX
	JNZ  wsloop

	MOVQ    R8, DI
	VMOVUPS Z0, (DI)
	CMPQ    DX, $2
	JB      wsdone
	VMOVUPS Z1, 64(DI)
	CMPQ    DX, $3
	JB      wsdone
	VMOVUPS Z2, 128(DI)
	CMPQ    DX, $4
	JB      wsdone
	VMOVUPS Z3, 192(DI)
	CMPQ    DX, $5
	JB      wsdone
	VMOVUPS Z4, 256(DI)
	CMPQ    DX, $6
	JB      wsdone
	VMOVUPS Z5, 320(DI)
	CMPQ    DX, $7
	JB      wsdone
	VMOVUPS Z6, 384(DI)
	CMPQ    DX, $8
	JB      wsdone
	VMOVUPS Z7, 448(DI)

wsdone:
	VZEROUPPER
	RET
