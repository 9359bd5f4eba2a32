package guard

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU returns the CPU time the calling OS thread has used.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reports throughput per CPU-second of the benchmark's thread
// ("cpu-MB/s"), which stays meaningful on a shared, loaded machine where
// wall-clock MB/s does not.
func cpuMeter(b *testing.B, bytes int) func() {
	runtime.LockOSThread()
	t0 := threadCPU()
	return func() {
		d := threadCPU() - t0
		runtime.UnlockOSThread()
		if d > 0 {
			b.ReportMetric(float64(bytes)*float64(b.N)/1e6/d.Seconds(), "cpu-MB/s")
			b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}
