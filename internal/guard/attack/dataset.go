package attack

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Example is one labelled text.
type Example struct {
	Text   string
	Attack bool
	Source string // dataset name, for per-source reports
}

// Dataset is the deterministic train / held-out split.
type Dataset struct {
	Train, Test []Example
	// HardBenign is NotInject: benign prompts full of trigger words, kept
	// out of training and reported on its own.
	HardBenign []Example
}

// heldOut puts about one in five keys in the test split, by hash, so the
// split is the same on every machine.
func heldOut(key string) bool {
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32()%5 == 0
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// LoadDataset reads the training data under dir (the shared data folder):
//   - attacks: jailbreak_classification "jailbreak" rows (its own
//     train/test split), gptfuzz templates (train; test rows of
//     jailbreak_classification that repeat one are dropped), and
//     jailbreakbench prompts split by goal index;
//   - benign: jailbreak_classification "benign" rows (its split), banking77,
//     bitext and clinc150 queries (hash split);
//   - NotInject as hard benign, test only.
//
// The [INSERT PROMPT HERE] placeholder is replaced by a question so the
// model cannot learn it.
func LoadDataset(dir string) (*Dataset, error) {
	d := &Dataset{}
	pa := filepath.Join(dir, "prompt_attacks")
	fill := func(s string) string {
		return strings.ReplaceAll(s, "[INSERT PROMPT HERE]", "how do I get a refund for my order")
	}

	fuzzSet := map[string]bool{}
	rows, err := readCSV(filepath.Join(pa, "gptfuzz", "GPTFuzzer.csv"))
	if err != nil {
		return nil, err
	}
	for _, r := range rows[1:] {
		fuzzSet[squash(r[1])] = true
		d.Train = append(d.Train, Example{fill(r[1]), true, "gptfuzz"})
	}
	if rows, err = readCSV(filepath.Join(pa, "gptfuzz", "seed_short_25.csv")); err == nil {
		for _, r := range rows[1:] {
			fuzzSet[squash(r[0])] = true
			d.Train = append(d.Train, Example{fill(r[0]), true, "gptfuzz"})
		}
	}
	for _, split := range []string{"train", "test"} {
		rows, err := readCSV(filepath.Join(pa, "jailbreak_classification", "jailbreak_dataset_"+split+".csv"))
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, r := range rows[1:] {
			k := squash(r[0])
			if seen[k] {
				continue
			}
			seen[k] = true
			e := Example{fill(r[0]), r[1] == "jailbreak", "jailbreak_classification"}
			if split == "train" {
				d.Train = append(d.Train, e)
			} else if !fuzzSet[k] {
				d.Test = append(d.Test, e)
			}
		}
	}
	// Drop test rows that also occur in train.
	trainSet := map[string]bool{}
	for _, e := range d.Train {
		trainSet[squash(e.Text)] = true
	}
	d.Test = filterOut(d.Test, trainSet)

	jbb := map[string]Example{}
	jbbTest := map[string]bool{}
	err = filepath.WalkDir(filepath.Join(pa, "jailbreakbench_artifacts"), func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		var f struct {
			Jailbreaks []struct {
				Index  int     `json:"index"`
				Prompt *string `json:"prompt"`
			} `json:"jailbreaks"`
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, j := range f.Jailbreaks {
			if j.Prompt == nil || *j.Prompt == "" {
				continue
			}
			jbb[*j.Prompt] = Example{*j.Prompt, true, "jailbreakbench"}
			if j.Index%5 == 0 {
				jbbTest[*j.Prompt] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(jbb))
	for k := range jbb {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if jbbTest[k] {
			d.Test = append(d.Test, jbb[k])
		} else {
			d.Train = append(d.Train, jbb[k])
		}
	}

	add := func(text, src string) {
		text = strings.TrimSpace(text)
		if text == "" {
			return
		}
		e := Example{text, false, src}
		if heldOut(text) {
			d.Test = append(d.Test, e)
		} else {
			d.Train = append(d.Train, e)
		}
	}
	if rows, err = readCSV(filepath.Join(dir, "banking77", "train.csv")); err != nil {
		return nil, err
	}
	for _, r := range rows[1:] {
		add(r[0], "banking77")
	}
	if rows, err = readCSV(filepath.Join(dir, "bitext_customer_support", "bitext_customer_support_4514.csv")); err != nil {
		return nil, err
	}
	for _, r := range rows[1:] {
		add(r[2], "bitext")
	}
	b, err := os.ReadFile(filepath.Join(dir, "clinc150", "data_full.json"))
	if err != nil {
		return nil, err
	}
	var clinc map[string][][2]string
	if err := json.Unmarshal(b, &clinc); err != nil {
		return nil, fmt.Errorf("clinc150: %w", err)
	}
	for _, part := range []string{"train", "val", "test", "oos_train", "oos_val", "oos_test"} {
		for _, r := range clinc[part] {
			add(r[0], "clinc150")
		}
	}
	for _, name := range []string{"NotInject_one.json", "NotInject_two.json", "NotInject_three.json"} {
		b, err := os.ReadFile(filepath.Join(pa, "notinject", name))
		if err != nil {
			return nil, err
		}
		var rows []struct {
			Prompt string `json:"prompt"`
		}
		if err := json.Unmarshal(b, &rows); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, r := range rows {
			d.HardBenign = append(d.HardBenign, Example{r.Prompt, false, "notinject"})
		}
	}
	return d, nil
}

func filterOut(es []Example, drop map[string]bool) []Example {
	out := es[:0]
	for _, e := range es {
		if !drop[squash(e.Text)] {
			out = append(out, e)
		}
	}
	return out
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	return rows, nil
}

// Metrics are binary classification counts at a threshold.
type Metrics struct {
	TP, FP, TN, FN int
}

// Precision is TP/(TP+FP).
func (m Metrics) Precision() float64 { return ratio(m.TP, m.TP+m.FP) }

// Recall is TP/(TP+FN).
func (m Metrics) Recall() float64 { return ratio(m.TP, m.TP+m.FN) }

// FPR is FP/(FP+TN).
func (m Metrics) FPR() float64 { return ratio(m.FP, m.FP+m.TN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Evaluate scores es with score and counts outcomes at threshold.
func Evaluate(es []Example, score func(string) float64, threshold float64) Metrics {
	var m Metrics
	for _, e := range es {
		hit := score(e.Text) >= threshold
		switch {
		case hit && e.Attack:
			m.TP++
		case hit:
			m.FP++
		case e.Attack:
			m.FN++
		default:
			m.TN++
		}
	}
	return m
}
