package router

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Example is one labelled query: its text and its category (an intent).
type Example struct {
	Text     string
	Category string
}

// maxCSVRecords bounds the rows read from one data file.
const maxCSVRecords = 1 << 20

// ReadExamples reads labelled queries from CSV with a header naming the
// columns "text" and "category" (Banking77's layout; other columns are
// ignored). Texts may span lines (RFC 4180 quoting).
func ReadExamples(r io.Reader) ([]Example, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	ti, ci := slices.Index(head, "text"), slices.Index(head, "category")
	if ti < 0 || ci < 0 {
		return nil, fmt.Errorf("header %q lacks text and category columns", head)
	}
	var out []Example
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading row %d: %w", len(out)+2, err)
		}
		if len(rec) <= max(ti, ci) {
			return nil, fmt.Errorf("row %d has %d columns", len(out)+2, len(rec))
		}
		if len(out) >= maxCSVRecords {
			return nil, fmt.Errorf("more than %d rows", maxCSVRecords)
		}
		out = append(out, Example{Text: rec[ti], Category: rec[ci]})
	}
	return out, nil
}

// TierMap maps a category (intent) to a 0-based tier index and lists the
// tier names in order, cheapest first.
type TierMap struct {
	Names []string
	Of    map[string]int
}

// ReadTierMap reads an intent-to-tier CSV with header columns "intent" and
// "tier" (1-based) and optionally "tier_name", like Banking77's
// complexity_tiers_proposed.csv. Tiers must be numbered 1..n without gaps.
func ReadTierMap(r io.Reader) (TierMap, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return TierMap{}, fmt.Errorf("reading header: %w", err)
	}
	ii, ti, ni := slices.Index(head, "intent"), slices.Index(head, "tier"), slices.Index(head, "tier_name")
	if ii < 0 || ti < 0 {
		return TierMap{}, fmt.Errorf("header %q lacks intent and tier columns", head)
	}
	tm := TierMap{Of: map[string]int{}}
	names := map[int]string{}
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return TierMap{}, fmt.Errorf("reading row %d: %w", row, err)
		}
		if len(rec) <= max(ii, ti, ni) {
			return TierMap{}, fmt.Errorf("row %d has %d columns", row, len(rec))
		}
		t, err := strconv.Atoi(strings.TrimSpace(rec[ti]))
		if err != nil || t < 1 || t > maxTiers {
			return TierMap{}, fmt.Errorf("row %d: tier %q is not in 1..%d", row, rec[ti], maxTiers)
		}
		if _, dup := tm.Of[rec[ii]]; dup {
			return TierMap{}, fmt.Errorf("row %d: intent %q listed twice", row, rec[ii])
		}
		tm.Of[rec[ii]] = t - 1
		if ni >= 0 && names[t-1] == "" {
			names[t-1] = rec[ni]
		}
		if len(tm.Of) > maxClasses {
			return TierMap{}, fmt.Errorf("more than %d intents", maxClasses)
		}
	}
	used := map[int]bool{}
	for _, t := range tm.Of {
		used[t] = true
	}
	if len(used) == 0 {
		return TierMap{}, errors.New("no intents")
	}
	for t := range len(used) {
		if !used[t] {
			return TierMap{}, fmt.Errorf("tier %d has no intent", t+1)
		}
		name := names[t]
		if name == "" {
			name = "tier" + strconv.Itoa(t+1)
		}
		tm.Names = append(tm.Names, name)
	}
	return tm, nil
}

// ReadExamplesFile and ReadTierMapFile open a path and call the readers.
func ReadExamplesFile(path string) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ex, err := ReadExamples(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ex, nil
}

// ReadTierMapFile reads a tier map from a file; see [ReadTierMap].
func ReadTierMapFile(path string) (TierMap, error) {
	f, err := os.Open(path)
	if err != nil {
		return TierMap{}, err
	}
	defer f.Close()
	tm, err := ReadTierMap(f)
	if err != nil {
		return TierMap{}, fmt.Errorf("%s: %w", path, err)
	}
	return tm, nil
}

// Split carves a deterministic, stratified holdout from examples: within each
// category, examples are ordered by a seeded shuffle (PCG seeded with seed
// and the FNV-1a hash of the category name, over the examples in file order)
// and the first round(frac × count) go to the holdout, at least one when the
// category has two or more examples. The rest, in file order, are returned
// as train. frac 0 returns all examples as train.
func Split(examples []Example, frac float64, seed uint64) (train, holdout []Example) {
	if frac <= 0 {
		return slices.Clone(examples), nil
	}
	byCat := map[string][]int{}
	var cats []string
	for i, e := range examples {
		if _, ok := byCat[e.Category]; !ok {
			cats = append(cats, e.Category)
		}
		byCat[e.Category] = append(byCat[e.Category], i)
	}
	in := make([]bool, len(examples))
	for _, c := range cats {
		idx := byCat[c]
		rng := rand.New(rand.NewPCG(seed, categorySeed(c)))
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		k := int(frac*float64(len(idx)) + 0.5)
		if k == 0 && len(idx) >= 2 {
			k = 1
		}
		k = min(k, len(idx)-1)
		for _, i := range idx[:max(k, 0)] {
			in[i] = true
		}
	}
	for i, e := range examples {
		if in[i] {
			holdout = append(holdout, e)
		} else {
			train = append(train, e)
		}
	}
	return train, holdout
}

// categorySeed is the FNV-1a hash of a category name.
func categorySeed(c string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(c))
	return h.Sum64()
}

// OutOfScope is the category name of the learned out-of-scope class.
const OutOfScope = "out_of_scope"

// ReadCLINCOutOfScope reads CLINC150's data_full.json and returns, as
// examples of category [OutOfScope], the out-of-scope queries of part
// ("train", "val" or "test": the oos_<part> list) plus the in-scope queries of
// that part whose intent belongs to none of the keepDomains (e.g. "banking",
// "credit_cards"), which are out of scope for a payments support desk.
// domainsJSON is CLINC150's domains.json; nil means out-of-scope list only.
func ReadCLINCOutOfScope(dataJSON, domainsJSON []byte, part string, keepDomains []string) ([]Example, error) {
	var data map[string][][2]string
	if err := json.Unmarshal(dataJSON, &data); err != nil {
		return nil, fmt.Errorf("parsing clinc150 data: %w", err)
	}
	oos, ok := data["oos_"+part]
	if !ok {
		return nil, fmt.Errorf("clinc150 data has no oos_%s list", part)
	}
	var out []Example
	for _, r := range oos {
		out = append(out, Example{Text: r[0], Category: OutOfScope})
	}
	if domainsJSON == nil {
		return out, nil
	}
	var domains map[string][]string
	if err := json.Unmarshal(domainsJSON, &domains); err != nil {
		return nil, fmt.Errorf("parsing clinc150 domains: %w", err)
	}
	keep := map[string]bool{}
	for _, d := range keepDomains {
		in, ok := domains[d]
		if !ok {
			return nil, fmt.Errorf("clinc150 has no domain %q", d)
		}
		for _, i := range in {
			keep[i] = true
		}
	}
	for _, r := range data[part] {
		if !keep[r[1]] {
			out = append(out, Example{Text: r[0], Category: OutOfScope})
		}
	}
	return out, nil
}

// sortedCategories returns the distinct categories in sorted order.
func sortedCategories(examples []Example) []string {
	var cats []string
	seen := map[string]bool{}
	for _, e := range examples {
		if !seen[e.Category] {
			seen[e.Category] = true
			cats = append(cats, e.Category)
		}
	}
	slices.SortFunc(cats, cmp.Compare)
	return cats
}
