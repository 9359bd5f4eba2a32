//go:build race

package finetune

// raceEnabled: the race detector slows training 5-10x, so the fine-tune
// acceptance test runs a short version there (the concurrent code is the
// same whatever the step count).
const raceEnabled = true
