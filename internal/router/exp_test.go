package router

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestExp(t *testing.T) {
	if os.Getenv("EXP") == "" {
		t.Skip()
	}
	ex, _ := ReadExamplesFile("/work/shared/data/banking77/train.csv")
	tm, _ := ReadTierMapFile("/work/shared/data/banking77/complexity_tiers_proposed.csv")
	tr, val := Split(ex, 0.1, 1)
	for _, o := range []TrainOptions{{Average: true}, {Average: true, Epochs: 20, LearningRate: 4}} {
		o.Rules = DefaultRules()
		st := time.Now()
		m, _ := Train(t.Context(), tr, tm, o)
		acc, under, n3, cost, intent := 0, 0, 0, 0.0, 0
		for _, e := range val {
			s := m.Score(e.Text)
			got := RiskTier(s.Tier, m.Bounds)
			if s.Class == e.Category { intent++ }
			if a, _ := o.Rules.Match(e.Text); a == ActionTopTier {
				got = 2
			}
			w := tm.Of[e.Category]
			if got == w {
				acc++
			}
			if w == 2 {
				n3++
				if got < 2 {
					under++
				}
			}
			cost += []float64{1, 5, 30}[got]
		}
		fmt.Printf("%+v took=%v T=%.3f bounds=%v intent=%.4f acc=%.4f under=%d/%d cost=%.3f\n", o.Average, time.Since(st), m.Temperature, m.Bounds, float64(intent)/float64(len(val)), float64(acc)/float64(len(val)), under, n3, cost/float64(len(val))/30)
	}
}
