package router

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. Benchmarks report it per
// op beside wall time because the machine they run on is shared: wall time
// includes waiting for a core, CPU time does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU runs f in b.Loop and reports CPU ns per op.
func loopCPU(b *testing.B, f func(i int)) {
	b.ReportAllocs()
	start := cpuTime()
	i := 0
	for b.Loop() {
		f(i)
		i++
	}
	if i > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(i), "cpu-ns/op")
	}
}

func banking77Train(b testing.TB) ([]Example, TierMap) {
	dir := filepath.Join(sharedDir(b), "data", "banking77")
	ex, err := ReadExamplesFile(filepath.Join(dir, "train.csv"))
	if err != nil {
		b.Fatal(err)
	}
	tm, err := ReadTierMapFile(filepath.Join(dir, "complexity_tiers_proposed.csv"))
	if err != nil {
		b.Fatal(err)
	}
	train, _ := Split(ex, 0.1, 1)
	return train, tm
}

// BenchmarkTrainBanking77 times "strata router train" on Banking77's train
// split (9k queries, 77 intents, calibration fit plus final fit).
func BenchmarkTrainBanking77(b *testing.B) {
	ex, tm := banking77Train(b)
	loopCPU(b, func(int) {
		if _, err := Train(b.Context(), ex, tm, TrainOptions{Rules: DefaultRules()}); err != nil {
			b.Fatal(err)
		}
	})
}

var benchQueries = []string{
	"I am still waiting on my card?",
	"How do I change my PIN?",
	"There is a payment on my statement I don't recognise, what should I do about it?",
	"Can I top up with a cheque, and how long until the money shows in my balance?",
}

// BenchmarkRouteLearned times one routing decision of the learned router
// (rules, features, scoring, risk tier) with a Banking77 model.
func BenchmarkRouteLearned(b *testing.B) {
	ex, tm := banking77Train(b)
	m, err := Train(b.Context(), ex, tm, TrainOptions{Rules: DefaultRules()})
	if err != nil {
		b.Fatal(err)
	}
	r := NewWith(DefaultTiers(), DefaultRules(), Learned{Model: m})
	loopCPU(b, func(i int) { r.Route(benchQueries[i%len(benchQueries)]) })
}

// BenchmarkRouteHeuristic times one routing decision of the baseline.
func BenchmarkRouteHeuristic(b *testing.B) {
	r := NewWith(DefaultTiers(), DefaultRules(), Heuristic{})
	loopCPU(b, func(i int) { r.Route(benchQueries[i%len(benchQueries)]) })
}
