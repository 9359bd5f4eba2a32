//go:build race

package eval

// raceEnabled: training on Banking77 under the race detector takes minutes,
// so the goals test is skipped there (the race-relevant code, concurrent
// scoring, is tested in package router).
const raceEnabled = true
