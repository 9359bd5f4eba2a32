package customize

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"strata/internal/apierr"
	"strata/internal/finetune"
)

// hyperParam is one accepted hyperparameter: its range and default, as
// strings travel on the wire.
type hyperParam struct {
	min, max float64
	def      string
	integer  bool
}

// hyperParams is strata's schema for the dense Llama and Mistral models
// the built-in trainer fine-tunes (Bedrock's Meta Llama keys, plus batch
// size and warm-up as for Titan). Unknown keys are refused.
var hyperParams = map[string]hyperParam{
	"epochCount":              {min: 1, max: 10, def: "2", integer: true},
	"batchSize":               {min: 1, max: 64, def: "1", integer: true},
	"learningRate":            {min: 1e-7, max: 0.1, def: "0.0001"},
	"learningRateWarmupSteps": {min: 0, max: 1000, def: "5", integer: true},
}

// checkHyperParameters validates in and returns it with defaults filled in.
func checkHyperParameters(in map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(in)) {
		hp, ok := hyperParams[k]
		if !ok {
			return nil, apierr.New(apierr.Validation, "Hyperparameter %s is not supported; supported: %s", k,
				strings.Join(slices.Sorted(maps.Keys(hyperParams)), ", "))
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(in[k]), 64)
		if err != nil || v < hp.min || v > hp.max || (hp.integer && v != float64(int(v))) {
			kind := "a number"
			if hp.integer {
				kind = "an integer"
			}
			return nil, apierr.New(apierr.Validation, "Hyperparameter %s must be %s from %s to %s", k, kind,
				strconv.FormatFloat(hp.min, 'g', -1, 64), strconv.FormatFloat(hp.max, 'g', -1, 64))
		}
		out[k] = strings.TrimSpace(in[k])
	}
	for k, hp := range hyperParams {
		if _, ok := out[k]; !ok {
			out[k] = hp.def
		}
	}
	return out, nil
}

// trainOptions turns checked hyperparameters into trainer options.
func trainOptions(hp map[string]string) (finetune.Options, error) {
	num := func(k string) float64 {
		v, _ := strconv.ParseFloat(hp[k], 64)
		return v
	}
	if _, err := checkHyperParameters(hp); err != nil {
		return finetune.Options{}, fmt.Errorf("stored hyperparameters: %w", err)
	}
	return finetune.Options{
		Epochs:       int(num("epochCount")),
		BatchSize:    int(num("batchSize")),
		LearningRate: num("learningRate"),
		WarmupSteps:  int(num("learningRateWarmupSteps")),
	}, nil
}
