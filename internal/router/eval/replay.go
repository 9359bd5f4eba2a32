package eval

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"strata/internal/router"
)

// Outcome is one prompt of a replay set: whether the weak and the strong
// model answered it correctly.
type Outcome struct {
	Prompt           string
	WeakOK, StrongOK bool
}

// Column names of RouteLLM's evaluation CSVs.
const (
	weakColumn   = "mistralai/Mixtral-8x7B-Instruct-v0.1"
	strongColumn = "gpt-4-1106-preview"
)

// ReadReplay reads RouteLLM's per-prompt outcomes for dataset "gsm8k" or
// "mmlu" from dir (shared/data/routellm_evals), leaving out the prompts
// listed in the dataset's contaminated_prompts.jsonl, as RouteLLM does.
func ReadReplay(dir, dataset string) ([]Outcome, error) {
	var files []string
	switch dataset {
	case "gsm8k":
		files = []string{filepath.Join(dir, "gsm8k", "gsm8k_responses.csv")}
	case "mmlu":
		var err error
		files, err = filepath.Glob(filepath.Join(dir, "mmlu", "responses", "mmlu_*.csv"))
		if err != nil || len(files) == 0 {
			return nil, fmt.Errorf("no mmlu response files under %s", dir)
		}
		slices.Sort(files)
	default:
		return nil, fmt.Errorf("unknown replay dataset %q (want gsm8k or mmlu)", dataset)
	}
	skip, err := readContaminated(filepath.Join(dir, dataset, "contaminated_prompts.jsonl"))
	if err != nil {
		return nil, err
	}
	var out []Outcome
	for _, f := range files {
		o, err := readOutcomes(f, skip)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, o...)
	}
	return out, nil
}

func readContaminated(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	skip := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var row struct {
			EvalPrompt string `json:"eval_prompt"`
		}
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		skip[row.EvalPrompt] = true
	}
	return skip, sc.Err()
}

func readOutcomes(path string, skip map[string]bool) ([]Outcome, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	pi, wi, si := slices.Index(head, "prompt"), slices.Index(head, weakColumn), slices.Index(head, strongColumn)
	if pi < 0 || wi < 0 || si < 0 {
		return nil, fmt.Errorf("header %q lacks prompt, %s or %s", head, weakColumn, strongColumn)
	}
	var out []Outcome
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(rec) <= max(pi, wi, si) || skip[rec[pi]] {
			continue
		}
		out = append(out, Outcome{Prompt: rec[pi], WeakOK: rec[wi] == "True", StrongOK: rec[si] == "True"})
	}
}

// ReplayPoint is one operating point of a two-model router.
type ReplayPoint struct {
	Threshold   float64 `json:"threshold"`
	StrongShare float64 `json:"strong_share"`
	Accuracy    float64 `json:"accuracy"`
	CostRatio   float64 `json:"cost_ratio"`
}

// ReplayRouter is one router's result on a replay set.
type ReplayRouter struct {
	Name  string        `json:"name"`
	Curve []ReplayPoint `json:"curve"`
	// APGR is the performance gap recovered, (acc − weak)/(strong − weak),
	// averaged over strong-call shares 0..100% on the curve's hull.
	APGR float64 `json:"apgr"`
	// AIQ is the area under the (cost ratio, accuracy) hull over its range.
	AIQ float64 `json:"aiq"`
	// StrongShareFor50 and StrongShareFor80 are the least strong-call
	// shares reaching 50% and 80% PGR (RouteLLM's CPT), -1 if never.
	StrongShareFor50 float64 `json:"cpt_50"`
	StrongShareFor80 float64 `json:"cpt_80"`
}

// ReplayReport compares routers on one replay set.
type ReplayReport struct {
	Dataset        string         `json:"dataset"`
	N              int            `json:"n"`
	WeakAccuracy   float64        `json:"weak_accuracy"`
	StrongAccuracy float64        `json:"strong_accuracy"`
	OracleAccuracy float64        `json:"oracle_accuracy"`
	OracleStrong   float64        `json:"oracle_strong_share"`
	CostWeak       float64        `json:"cost_weak"`
	CostStrong     float64        `json:"cost_strong"`
	Routers        []ReplayRouter `json:"routers"`
}

// Replay evaluates routers on outcomes. Each router is a score per prompt
// (higher = more likely to need the strong model); the sweep sends a prompt
// to the strong model when its score is at or above each distinct score.
// Random routing (expected accuracy) and the oracle (strong only when the
// weak model is wrong and the strong one right) are always included.
// costWeak and costStrong price one call of each model.
func Replay(dataset string, outs []Outcome, scores map[string][]float64, costWeak, costStrong float64) ReplayReport {
	r := ReplayReport{Dataset: dataset, N: len(outs), CostWeak: costWeak, CostStrong: costStrong}
	if len(outs) == 0 {
		return r
	}
	n := float64(len(outs))
	var weak, strong, oracle, oracleStrong float64
	for _, o := range outs {
		if o.WeakOK {
			weak++
		}
		if o.StrongOK {
			strong++
		}
		if o.WeakOK || o.StrongOK {
			oracle++
		}
		if !o.WeakOK && o.StrongOK {
			oracleStrong++
		}
	}
	r.WeakAccuracy, r.StrongAccuracy, r.OracleAccuracy, r.OracleStrong = weak/n, strong/n, oracle/n, oracleStrong/n
	cost := func(share float64) float64 {
		return (share*costStrong + (1-share)*costWeak) / costStrong
	}
	point := func(th, share, acc float64) ReplayPoint {
		return ReplayPoint{Threshold: th, StrongShare: share, Accuracy: acc, CostRatio: cost(share)}
	}
	// Random: expected accuracy at each share, a straight line.
	var random, oraclePts []ReplayPoint
	for i := 0; i <= 20; i++ {
		x := float64(i) / 20
		random = append(random, point(x, x, r.WeakAccuracy+x*(r.StrongAccuracy-r.WeakAccuracy)))
	}
	r.Routers = append(r.Routers, r.summarize("random", random))
	oraclePts = []ReplayPoint{point(1, 0, r.WeakAccuracy), point(0, r.OracleStrong, r.OracleAccuracy), point(-1, 1, r.StrongAccuracy)}
	r.Routers = append(r.Routers, r.summarize("oracle", oraclePts))
	names := make([]string, 0, len(scores))
	for k := range scores {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		sc := scores[name]
		ths := slices.Clone(sc)
		slices.Sort(ths)
		ths = slices.Compact(ths)
		ths = append(ths, math.Inf(1))
		var pts []ReplayPoint
		for _, th := range ths {
			var k, acc float64
			for i, o := range outs {
				useStrong := sc[i] >= th
				if useStrong {
					k++
				}
				if (useStrong && o.StrongOK) || (!useStrong && o.WeakOK) {
					acc++
				}
			}
			pts = append(pts, point(th, k/n, acc/n))
		}
		r.Routers = append(r.Routers, r.summarize(name, pts))
	}
	return r
}

func (r ReplayReport) summarize(name string, pts []ReplayPoint) ReplayRouter {
	rr := ReplayRouter{Name: name, Curve: pts, StrongShareFor50: -1, StrongShareFor80: -1}
	byShare := make([]Point, len(pts))
	byCost := make([]Point, len(pts))
	for i, p := range pts {
		byShare[i] = Point{Threshold: p.Threshold, CostRatio: p.StrongShare, Quality: p.Accuracy}
		byCost[i] = Point{Threshold: p.Threshold, CostRatio: p.CostRatio, Quality: p.Accuracy}
	}
	rr.AIQ = AIQ(byCost)
	gap := r.StrongAccuracy - r.WeakAccuracy
	if gap <= 0 {
		return rr
	}
	h := Hull(byShare)
	sum := 0.0
	const steps = 100
	for i := 0; i <= steps; i++ {
		sum += (hullAt(h, float64(i)/steps) - r.WeakAccuracy) / gap
	}
	rr.APGR = sum / (steps + 1)
	if x, ok := QualityAt(byShare, r.WeakAccuracy+0.5*gap); ok {
		rr.StrongShareFor50 = x
	}
	if x, ok := QualityAt(byShare, r.WeakAccuracy+0.8*gap); ok {
		rr.StrongShareFor80 = x
	}
	return rr
}

// hullAt interpolates a hull's quality at x; beyond its ends the nearest
// end's quality holds.
func hullAt(h []Point, x float64) float64 {
	if len(h) == 0 {
		return 0
	}
	if x <= h[0].CostRatio {
		return h[0].Quality
	}
	for i := 1; i < len(h); i++ {
		if x <= h[i].CostRatio {
			a, b := h[i-1], h[i]
			return a.Quality + (x-a.CostRatio)/(b.CostRatio-a.CostRatio)*(b.Quality-a.Quality)
		}
	}
	return h[len(h)-1].Quality
}

// CrossFitScores scores every prompt with a learned router that never saw
// it: the prompts are split into k folds (seeded shuffle), a
// [router.Model] is trained on the other folds to tell "weak" prompts
// (weak model correct) from "strong" ones (weak model wrong), and its
// probability of "strong" is the prompt's score.
func CrossFitScores(ctx context.Context, outs []Outcome, k int, seed uint64, opts router.TrainOptions) ([]float64, error) {
	if k < 2 {
		return nil, errors.New("cross-fitting needs at least 2 folds")
	}
	fold := make([]int, len(outs))
	perm := rand.New(rand.NewPCG(seed, 0xf01d)).Perm(len(outs))
	for i, p := range perm {
		fold[p] = i % k
	}
	tm := router.TierMap{Names: []string{"weak", "strong"}, Of: map[string]int{"weak": 0, "strong": 1}}
	scores := make([]float64, len(outs))
	for f := range k {
		var train []router.Example
		for i, o := range outs {
			if fold[i] == f {
				continue
			}
			cat := "weak"
			if !o.WeakOK {
				cat = "strong"
			}
			train = append(train, router.Example{Text: o.Prompt, Category: cat})
		}
		m, err := router.Train(ctx, train, tm, opts)
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", f, err)
		}
		for i, o := range outs {
			if fold[i] == f {
				scores[i] = m.Score(o.Prompt).Tier[1]
			}
		}
	}
	return scores, nil
}
