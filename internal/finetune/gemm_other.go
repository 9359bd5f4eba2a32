//go:build !amd64

package finetune

// haveFMA4x16 is false off amd64: gemm32 uses vek32 (whose pure-Go
// fallback runs there).
const haveFMA4x16 = false

func fma4x16(a *float32, lda int, b *float32, ldb int, k int, c *float32, ldc int) {
	panic("finetune: fma4x16 without AVX2")
}
