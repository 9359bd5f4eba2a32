package finetune

import "golang.org/x/sys/cpu"

// haveFMA4x16 reports whether fma4x16 may run on this CPU.
var haveFMA4x16 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// fma4x16 sets c[i*ldc+j] to Σ_l a[i*lda+l]·b[l*ldb+j] for i < 4, j < 16
// and l < k (k ≥ 1), each an in-order chain of fused multiply-adds from
// zero: the values vek32.MatMul_Into gives. AVX2 and FMA assembly.
//
//go:noescape
func fma4x16(a *float32, lda int, b *float32, ldb int, k int, c *float32, ldc int)
