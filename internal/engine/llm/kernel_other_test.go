//go:build !amd64

package llm

import "testing"

// kernelPaths lists the kernel sets this CPU can run: only the portable Go
// kernels off amd64.
func kernelPaths() []string { return []string{"go"} }

// useKernels selects the named kernel set until t ends.
func useKernels(t testing.TB, name string) {
	if name != "go" {
		t.Fatalf("no %s kernels off amd64", name)
	}
}
