//go:build !race

package finetune

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
