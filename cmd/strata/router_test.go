package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRouterTrainEval(t *testing.T) {
	dir := t.TempDir()
	var data strings.Builder
	data.WriteString("text,category\n")
	for _, row := range []struct{ cat, text string }{
		{"change_pin", "how do I change my pin"}, {"change_pin", "change my pin code"}, {"change_pin", "I want a new pin"},
		{"change_pin", "pin change please"}, {"change_pin", "where do I change my PIN"}, {"change_pin", "set a different pin"},
		{"card_arrival", "my card has not arrived"}, {"card_arrival", "when will my card arrive"}, {"card_arrival", "still waiting for my card"},
		{"card_arrival", "card delivery is late"}, {"card_arrival", "where is my new card"}, {"card_arrival", "my card never came"},
		{"lost_card", "I lost my card"}, {"lost_card", "my card is missing and lost"}, {"lost_card", "I can't find my card anywhere"},
		{"lost_card", "lost card what now"}, {"lost_card", "card lost on the train"}, {"lost_card", "I misplaced my card"},
	} {
		data.WriteString(row.text + "," + row.cat + "\n")
	}
	dataPath := filepath.Join(dir, "data.csv")
	tiersPath := filepath.Join(dir, "tiers.csv")
	model := filepath.Join(dir, "router.model")
	if err := os.WriteFile(dataPath, []byte(data.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tiersPath, []byte("intent,tier,tier_name\nchange_pin,1,simple\ncard_arrival,2,standard\nlost_card,3,complex\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runRouterTrain(t.Context(), []string{"--data", dataPath, "--tiers", tiersPath, "--out", model, "--hash-bits", "12", "--holdout", "0.2"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "3 classes") {
		t.Errorf("train output %q", out.String())
	}
	for _, r := range []string{model, "heuristic"} {
		out.Reset()
		if err := runRouterEval(t.Context(), []string{"--router", r, "--data", dataPath, "--tiers", tiersPath, "--split", "val", "--holdout", "0.2", "--format", "json"}, &out); err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Router    string          `json:"router"`
			N         int             `json:"n"`
			Accuracy  *float64        `json:"tier_accuracy"`
			MacroF1   *float64        `json:"macro_f1"`
			Confusion [][]int         `json:"confusion"`
			Under     struct{ N int } `json:"top_tier_under_routing"`
			CostRatio *float64        `json:"cost_ratio"`
			Curve     []any           `json:"curve"`
			AIQ       *float64        `json:"aiq"`
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("%s: %v in %s", r, err, out.String())
		}
		// 20% of 6 per intent = 1 each.
		if rep.N != 3 || rep.Under.N != 1 || rep.Accuracy == nil || rep.MacroF1 == nil || rep.CostRatio == nil ||
			rep.AIQ == nil || len(rep.Confusion) != 3 || len(rep.Curve) == 0 {
			t.Errorf("%s: report %s", r, out.String())
		}
	}
	if err := runRouterEval(t.Context(), []string{"--router", "heuristic", "--data", dataPath, "--tiers", tiersPath, "--format", "xml"}, &out); err == nil {
		t.Error("bad format accepted")
	}
}
