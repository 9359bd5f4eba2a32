package llm

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// kernelPaths lists the kernel sets this CPU can run: the portable Go
// kernels, then AVX2 and AVX-512 where the CPU has them.
func kernelPaths() []string {
	paths := []string{"go"}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		paths = append(paths, "avx2")
		if cpu.X86.HasAVX512F {
			paths = append(paths, "avx512")
		}
	}
	return paths
}

// useKernels selects the named kernel set until t ends.
func useKernels(t testing.TB, name string) {
	avx2, avx512 := useAVX2, useAVX512
	t.Cleanup(func() { useAVX2, useAVX512 = avx2, avx512 })
	useAVX2 = name == "avx2" || name == "avx512"
	useAVX512 = name == "avx512"
}
