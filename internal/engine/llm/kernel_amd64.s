#include "textflag.h"

// func dot4AVX2(w *float32, stride int, x *float32, n int, out *[4]float32)
// One accumulator per row, reduced as dot4x2AVX2 reduces its own, so a row
// gives the same sum bit for bit through either kernel.
TEXT ·dot4AVX2(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	SHLQ $2, BX
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ out+32(FP), DX
	LEAQ (SI)(BX*1), R8
	LEAQ (R8)(BX*1), R9
	LEAQ (R9)(BX*1), R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ AX, AX
	MOVQ CX, R11
	SHRQ $4, R11
	JZ   f32tail

f32loop:
	PREFETCHT0  1024(SI)(AX*1)
	PREFETCHT0  1024(R8)(AX*1)
	PREFETCHT0  1024(R9)(AX*1)
	PREFETCHT0  1024(R10)(AX*1)
	VMOVUPS     (DI)(AX*1), Y8
	VMOVUPS     32(DI)(AX*1), Y9
	VFMADD231PS (SI)(AX*1), Y8, Y0
	VFMADD231PS (R8)(AX*1), Y8, Y1
	VFMADD231PS (R9)(AX*1), Y8, Y2
	VFMADD231PS (R10)(AX*1), Y8, Y3
	VFMADD231PS 32(SI)(AX*1), Y9, Y0
	VFMADD231PS 32(R8)(AX*1), Y9, Y1
	VFMADD231PS 32(R9)(AX*1), Y9, Y2
	VFMADD231PS 32(R10)(AX*1), Y9, Y3
	ADDQ        $64, AX
	DECQ        R11
	JNZ         f32loop

f32tail:
	TESTQ       $8, CX
	JZ          f32reduce
	VMOVUPS     (DI)(AX*1), Y8
	VFMADD231PS (SI)(AX*1), Y8, Y0
	VFMADD231PS (R8)(AX*1), Y8, Y1
	VFMADD231PS (R9)(AX*1), Y8, Y2
	VFMADD231PS (R10)(AX*1), Y8, Y3

f32reduce:
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVUPS      X0, (DX)
	VZEROUPPER
	RET

// func dot4I8AVX2(w *int8, stride int, x *float32, n int, out *[4]float32)
TEXT ·dot4I8AVX2(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ stride+8(FP), BX
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ out+32(FP), DX
	LEAQ (SI)(BX*1), R8
	LEAQ (R8)(BX*1), R9
	LEAQ (R9)(BX*1), R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX
	MOVQ CX, R11
	SHRQ $4, R11
	JZ   i8tail

i8loop:
	PREFETCHT0  512(SI)(AX*1)
	PREFETCHT0  512(R8)(AX*1)
	PREFETCHT0  512(R9)(AX*1)
	PREFETCHT0  512(R10)(AX*1)
	VMOVUPS     (DI)(AX*4), Y8
	VMOVUPS     32(DI)(AX*4), Y9
	VPMOVSXBD   (SI)(AX*1), Y10
	VPMOVSXBD   8(SI)(AX*1), Y11
	VPMOVSXBD   (R8)(AX*1), Y12
	VPMOVSXBD   8(R8)(AX*1), Y13
	VCVTDQ2PS   Y10, Y10
	VCVTDQ2PS   Y11, Y11
	VCVTDQ2PS   Y12, Y12
	VCVTDQ2PS   Y13, Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y11, Y9, Y1
	VFMADD231PS Y12, Y8, Y2
	VFMADD231PS Y13, Y9, Y3
	VPMOVSXBD   (R9)(AX*1), Y10
	VPMOVSXBD   8(R9)(AX*1), Y11
	VPMOVSXBD   (R10)(AX*1), Y12
	VPMOVSXBD   8(R10)(AX*1), Y13
	VCVTDQ2PS   Y10, Y10
	VCVTDQ2PS   Y11, Y11
	VCVTDQ2PS   Y12, Y12
	VCVTDQ2PS   Y13, Y13
	VFMADD231PS Y10, Y8, Y4
	VFMADD231PS Y11, Y9, Y5
	VFMADD231PS Y12, Y8, Y6
	VFMADD231PS Y13, Y9, Y7
	ADDQ        $16, AX
	DECQ        R11
	JNZ         i8loop

i8tail:
	TESTQ       $8, CX
	JZ          i8reduce
	VMOVUPS     (DI)(AX*4), Y8
	VPMOVSXBD   (SI)(AX*1), Y10
	VPMOVSXBD   (R8)(AX*1), Y11
	VPMOVSXBD   (R9)(AX*1), Y12
	VPMOVSXBD   (R10)(AX*1), Y13
	VCVTDQ2PS   Y10, Y10
	VCVTDQ2PS   Y11, Y11
	VCVTDQ2PS   Y12, Y12
	VCVTDQ2PS   Y13, Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y11, Y8, Y2
	VFMADD231PS Y12, Y8, Y4
	VFMADD231PS Y13, Y8, Y6

i8reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y5, Y4, Y4
	VADDPS       Y7, Y6, Y6
	VHADDPS      Y2, Y0, Y0
	VHADDPS      Y6, Y4, Y4
	VHADDPS      Y4, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVUPS      X0, (DX)
	VZEROUPPER
	RET

// func dot1AVX2(a, b *float32, n int) float32
TEXT ·dot1AVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ AX, AX
	MOVQ CX, R11
	SHRQ $4, R11
	JZ   d1tail

d1loop:
	VMOVUPS     (DI)(AX*1), Y8
	VMOVUPS     32(DI)(AX*1), Y9
	VFMADD231PS (SI)(AX*1), Y8, Y0
	VFMADD231PS 32(SI)(AX*1), Y9, Y1
	ADDQ        $64, AX
	DECQ        R11
	JNZ         d1loop

d1tail:
	TESTQ       $8, CX
	JZ          d1reduce
	VMOVUPS     (DI)(AX*1), Y8
	VFMADD231PS (SI)(AX*1), Y8, Y0

d1reduce:
	VADDPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, ret+24(FP)
	VZEROUPPER
	RET

// Constants of expSubAVX2 and siluMulAVX2 (Cephes expf): clamp, log2(e),
// ln(2) split in two, the polynomial, 1.0, the exponent bias, and an upper
// clamp (88, so that 2^round(x*log2(e)) stays finite).
DATA expc<>+0(SB)/4, $0xc2aeac4f
DATA expc<>+4(SB)/4, $0x3fb8aa3b
DATA expc<>+8(SB)/4, $0x3f318000
DATA expc<>+12(SB)/4, $0xb95e8083
DATA expc<>+16(SB)/4, $0x39506967
DATA expc<>+20(SB)/4, $0x3ab743ce
DATA expc<>+24(SB)/4, $0x3c088908
DATA expc<>+28(SB)/4, $0x3d2aa9c1
DATA expc<>+32(SB)/4, $0x3e2aaaaa
DATA expc<>+36(SB)/4, $0x3f000000
DATA expc<>+40(SB)/4, $0x3f800000
DATA expc<>+44(SB)/4, $127
DATA expc<>+48(SB)/4, $0x42b00000
GLOBL expc<>(SB), RODATA|NOPTR, $52

// func expSubAVX2(x *float32, n int, m float32) float32
TEXT ·expSubAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y0
	VXORPS       Y1, Y1, Y1
	VBROADCASTSS expc<>+0(SB), Y8
	VBROADCASTSS expc<>+4(SB), Y9
	VBROADCASTSS expc<>+8(SB), Y10
	VBROADCASTSS expc<>+12(SB), Y11
	VBROADCASTSS expc<>+16(SB), Y12
	VBROADCASTSS expc<>+20(SB), Y13
	VBROADCASTSS expc<>+24(SB), Y14
	VBROADCASTSS expc<>+28(SB), Y15
	SHRQ         $3, CX
	JZ           expdone

exploop:
	VMOVUPS      (SI), Y2
	VSUBPS       Y0, Y2, Y2
	VMAXPS       Y8, Y2, Y2
	VMULPS       Y9, Y2, Y3
	VROUNDPS     $0, Y3, Y3
	VFNMADD231PS Y10, Y3, Y2
	VFNMADD231PS Y11, Y3, Y2
	VMOVAPS      Y12, Y4
	VFMADD213PS  Y13, Y2, Y4
	VFMADD213PS  Y14, Y2, Y4
	VFMADD213PS  Y15, Y2, Y4
	VBROADCASTSS expc<>+32(SB), Y5
	VFMADD213PS  Y5, Y2, Y4
	VBROADCASTSS expc<>+36(SB), Y5
	VFMADD213PS  Y5, Y2, Y4
	VMULPS       Y2, Y2, Y5
	VFMADD213PS  Y2, Y5, Y4
	VBROADCASTSS expc<>+40(SB), Y5
	VADDPS       Y5, Y4, Y4
	VCVTPS2DQ    Y3, Y3
	VPBROADCASTD expc<>+44(SB), Y5
	VPADDD       Y5, Y3, Y3
	VPSLLD       $23, Y3, Y3
	VMULPS       Y3, Y4, Y4
	VMOVUPS      Y4, (SI)
	VADDPS       Y4, Y1, Y1
	ADDQ         $32, SI
	DECQ         CX
	JNZ          exploop

expdone:
	VEXTRACTF128 $1, Y1, X2
	VADDPS       X2, X1, X1
	VHADDPS      X1, X1, X1
	VHADDPS      X1, X1, X1
	VMOVSS       X1, ret+24(FP)
	VZEROUPPER
	RET

// func axpyAVX2(a float32, x, y *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y0
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX
	SHRQ         $3, CX
	JZ           axpydone

axpyloop:
	VMOVUPS     (DI), Y1
	VFMADD231PS (SI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNZ         axpyloop

axpydone:
	VZEROUPPER
	RET

// func dot4x2AVX2(w *float32, stride int, x *float32, xstride int, n int, out *[8]float32)
// out[0:4] = rows·x, out[4:8] = rows·(x+xstride).
TEXT ·dot4x2AVX2(SB), NOSPLIT, $0-48
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
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX
	SHRQ $3, CX
	JZ   x2reduce

x2loop:
	VMOVUPS     (DI)(AX*1), Y8
	VMOVUPS     (R11)(AX*1), Y9
	VMOVUPS     (SI)(AX*1), Y10
	VMOVUPS     (R8)(AX*1), Y11
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y4
	VFMADD231PS Y11, Y8, Y1
	VFMADD231PS Y11, Y9, Y5
	VMOVUPS     (R9)(AX*1), Y10
	VMOVUPS     (R10)(AX*1), Y11
	VFMADD231PS Y10, Y8, Y2
	VFMADD231PS Y10, Y9, Y6
	VFMADD231PS Y11, Y8, Y3
	VFMADD231PS Y11, Y9, Y7
	ADDQ        $32, AX
	DECQ        CX
	JNZ         x2loop

x2reduce:
	MOVQ         out+40(FP), DX
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVUPS      X0, (DX)
	VHADDPS      Y5, Y4, Y4
	VHADDPS      Y7, Y6, Y6
	VHADDPS      Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPS       X5, X4, X4
	VMOVUPS      X4, 16(DX)
	VZEROUPPER
	RET

// func siluMulAVX2(x, u *float32, n int)
// x[i] = x[i] / (1 + exp(-x[i])) * u[i] for i < n (a multiple of 8), with
// expSubAVX2's exp, its argument clamped to [-87.3, 88].
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-24
	MOVQ         x+0(FP), SI
	MOVQ         u+8(FP), DI
	MOVQ         n+16(FP), CX
	VBROADCASTSS expc<>+0(SB), Y8
	VBROADCASTSS expc<>+4(SB), Y9
	VBROADCASTSS expc<>+8(SB), Y10
	VBROADCASTSS expc<>+12(SB), Y11
	VBROADCASTSS expc<>+16(SB), Y12
	VBROADCASTSS expc<>+20(SB), Y13
	VBROADCASTSS expc<>+24(SB), Y14
	VBROADCASTSS expc<>+28(SB), Y15
	VBROADCASTSS expc<>+40(SB), Y7
	VBROADCASTSS expc<>+48(SB), Y6
	VXORPS       Y1, Y1, Y1
	SHRQ         $3, CX
	JZ           silldone

silloop:
	VMOVUPS      (SI), Y0
	VSUBPS       Y0, Y1, Y2
	VMAXPS       Y8, Y2, Y2
	VMINPS       Y6, Y2, Y2
	VMULPS       Y9, Y2, Y3
	VROUNDPS     $0, Y3, Y3
	VFNMADD231PS Y10, Y3, Y2
	VFNMADD231PS Y11, Y3, Y2
	VMOVAPS      Y12, Y4
	VFMADD213PS  Y13, Y2, Y4
	VFMADD213PS  Y14, Y2, Y4
	VFMADD213PS  Y15, Y2, Y4
	VBROADCASTSS expc<>+32(SB), Y5
	VFMADD213PS  Y5, Y2, Y4
	VBROADCASTSS expc<>+36(SB), Y5
	VFMADD213PS  Y5, Y2, Y4
	VMULPS       Y2, Y2, Y5
	VFMADD213PS  Y2, Y5, Y4
	VADDPS       Y7, Y4, Y4
	VCVTPS2DQ    Y3, Y3
	VPBROADCASTD expc<>+44(SB), Y5
	VPADDD       Y5, Y3, Y3
	VPSLLD       $23, Y3, Y3
	VMULPS       Y3, Y4, Y4
	VADDPS       Y7, Y4, Y4
	VDIVPS       Y4, Y0, Y0
	VMULPS       (DI), Y0, Y0
	VMOVUPS      Y0, (SI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          silloop

silldone:
	VZEROUPPER
	RET
