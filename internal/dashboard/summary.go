package dashboard

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"strata/internal/arn"
)

// Summary is what GET /dashboard/api/summary returns: strata's own
// metrics, cumulative since the process started, grouped for the page.
// Counters are totals; the page turns two successive summaries into
// per-second rates. Quantiles are estimated from histogram buckets.
type Summary struct {
	GeneratedAt time.Time     `json:"generated_at"`
	Account     string        `json:"account"` // the caller's; other accounts' models are left out
	Totals      Totals        `json:"totals"`
	Invocations []Invocations `json:"invocations"` // by model and API
	Models      []Model       `json:"models"`      // residency, by model
	Provisioned []Provisioned `json:"provisioned"` // by provisioned model
	Tiers       []Tier        `json:"tiers"`       // POST /query, by answering tier
}

// Totals adds up the Invocations rows.
type Totals struct {
	Invocations float64 `json:"invocations"`
	Errors      float64 `json:"errors"`
	Throttles   float64 `json:"throttles"`
	TokensIn    float64 `json:"tokens_in"`
	TokensOut   float64 `json:"tokens_out"`
}

// Invocations is one model and API's row (strata_invocations_total and the
// metrics labelled like it).
type Invocations struct {
	Model       string             `json:"model"`
	API         string             `json:"api"`
	Invocations float64            `json:"invocations"` // every outcome
	Errors      float64            `json:"errors"`
	ErrorTypes  map[string]float64 `json:"error_types"` // by error type
	Throttles   float64            `json:"throttles"`
	Latency     Dist               `json:"latency"`
	FirstToken  Dist               `json:"time_to_first_token"`
	TokensIn    float64            `json:"tokens_in"`
	TokensOut   float64            `json:"tokens_out"`
}

// Model is one model's residency: loads, evictions and what is loaded now.
type Model struct {
	Model          string  `json:"model"`
	Loads          float64 `json:"loads"`
	LoadFailures   float64 `json:"load_failures"`
	LoadTime       Dist    `json:"load_time"`
	Evictions      float64 `json:"evictions"`
	Copies         float64 `json:"copies"`
	InFlight       float64 `json:"in_flight"`
	ResidentBytes  float64 `json:"resident_bytes"`
	OutputFindings float64 `json:"output_findings"` // card data masked in outputs (a count only)
}

// Provisioned is one provisioned model's utilization: streams in use over
// streams reserved, now.
type Provisioned struct {
	ProvisionedModel string  `json:"provisioned_model"`
	Model            string  `json:"model"`
	Utilization      float64 `json:"utilization"`
}

// Tier is one /query tier's row.
type Tier struct {
	Tier      string  `json:"tier"`
	Queries   float64 `json:"queries"`
	Escalated float64 `json:"escalated"`
	Failed    float64 `json:"failed"`
	CostUSD   float64 `json:"cost_usd"` // every attempt on the tier, answered or not
	Latency   Dist    `json:"latency"`
}

// Dist summarizes a histogram. The estimates are nil when it is empty.
type Dist struct {
	Count uint64   `json:"count"`
	Sum   float64  `json:"sum"`
	Mean  *float64 `json:"mean"`
	P50   *float64 `json:"p50"`
	P95   *float64 `json:"p95"`
}

// summarize groups the gathered families for the caller's account.
func summarize(families []*dto.MetricFamily, account string, now time.Time) Summary {
	s := Summary{GeneratedAt: now.UTC(), Account: account,
		Invocations: []Invocations{}, Models: []Model{}, Provisioned: []Provisioned{}, Tiers: []Tier{}}
	inv := map[[2]string]*Invocations{}
	invRow := func(l map[string]string) *Invocations {
		k := [2]string{l["model"], l["api"]}
		r := inv[k]
		if r == nil {
			r = &Invocations{Model: k[0], API: k[1], ErrorTypes: map[string]float64{}}
			inv[k] = r
		}
		return r
	}
	models := map[string]*Model{}
	modelRow := func(l map[string]string) *Model {
		r := models[l["model"]]
		if r == nil {
			r = &Model{Model: l["model"]}
			models[l["model"]] = r
		}
		return r
	}
	tiers := map[string]*Tier{}
	tierRow := func(l map[string]string) *Tier {
		r := tiers[l["tier"]]
		if r == nil {
			r = &Tier{Tier: l["tier"]}
			tiers[l["tier"]] = r
		}
		return r
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			l := labels(m)
			if !visible(l, account) {
				continue
			}
			v := value(m)
			switch f.GetName() {
			case "strata_invocations_total":
				invRow(l).Invocations += v
			case "strata_errors_total":
				r := invRow(l)
				r.Errors += v
				r.ErrorTypes[l["type"]] += v
			case "strata_throttles_total":
				invRow(l).Throttles += v
			case "strata_invocation_latency_seconds":
				invRow(l).Latency = dist(m.GetHistogram())
			case "strata_time_to_first_token_seconds":
				invRow(l).FirstToken = dist(m.GetHistogram())
			case "strata_tokens_total":
				switch l["direction"] {
				case "input":
					invRow(l).TokensIn += v
				case "output":
					invRow(l).TokensOut += v
				}
			case "strata_model_loads_total":
				r := modelRow(l)
				if l["outcome"] == "ok" {
					r.Loads += v
				} else {
					r.LoadFailures += v
				}
			case "strata_model_load_seconds":
				modelRow(l).LoadTime = dist(m.GetHistogram())
			case "strata_model_evictions_total":
				modelRow(l).Evictions += v
			case "strata_model_copies":
				modelRow(l).Copies = v
			case "strata_model_inflight":
				modelRow(l).InFlight = v
			case "strata_model_resident_bytes":
				modelRow(l).ResidentBytes = v
			case "strata_guard_output_findings_total":
				modelRow(l).OutputFindings += v
			case "strata_provisioned_utilization":
				s.Provisioned = append(s.Provisioned, Provisioned{ProvisionedModel: l["provisioned_model"], Model: l["model"], Utilization: v})
			case "strata_queries_total":
				r := tierRow(l)
				r.Queries += v
				if l["escalated"] == "true" {
					r.Escalated += v
				}
				if l["outcome"] != "ok" {
					r.Failed += v
				}
			case "strata_query_cost_usd_total":
				tierRow(l).CostUSD += v
			case "strata_query_latency_seconds":
				tierRow(l).Latency = dist(m.GetHistogram())
			}
		}
	}
	for _, r := range inv {
		s.Invocations = append(s.Invocations, *r)
		s.Totals.Invocations += r.Invocations
		s.Totals.Errors += r.Errors
		s.Totals.Throttles += r.Throttles
		s.Totals.TokensIn += r.TokensIn
		s.Totals.TokensOut += r.TokensOut
	}
	slices.SortFunc(s.Invocations, func(a, b Invocations) int {
		return cmp.Or(strings.Compare(a.Model, b.Model), strings.Compare(a.API, b.API))
	})
	for _, r := range models {
		s.Models = append(s.Models, *r)
	}
	slices.SortFunc(s.Models, func(a, b Model) int { return strings.Compare(a.Model, b.Model) })
	slices.SortFunc(s.Provisioned, func(a, b Provisioned) int { return strings.Compare(a.ProvisionedModel, b.ProvisionedModel) })
	for _, r := range tiers {
		s.Tiers = append(s.Tiers, *r)
	}
	slices.SortFunc(s.Tiers, func(a, b Tier) int { return strings.Compare(a.Tier, b.Tier) })
	return s
}

func labels(m *dto.Metric) map[string]string {
	l := make(map[string]string, len(m.GetLabel()))
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// visible reports whether a series may be shown to a caller in account:
// a label holding an ARN of another account hides it, as every strata API
// hides other accounts' resources. Labels that are not ARNs (remote engine
// names, tiers, APIs) belong to the platform and are shown.
func visible(l map[string]string, account string) bool {
	for _, v := range l {
		if !strings.HasPrefix(v, "arn:") {
			continue
		}
		a, err := arn.Parse(v)
		if err != nil || a.Account != "" && a.Account != account {
			return false
		}
	}
	return true
}

func dist(h *dto.Histogram) Dist {
	d := Dist{Count: h.GetSampleCount(), Sum: h.GetSampleSum()}
	if d.Count == 0 {
		return d
	}
	mean := d.Sum / float64(d.Count)
	d.Mean = &mean
	bs := make([]bucket, 0, len(h.GetBucket()))
	for _, b := range h.GetBucket() {
		bs = append(bs, bucket{upper: b.GetUpperBound(), count: float64(b.GetCumulativeCount())})
	}
	d.P50 = quantile(0.5, bs, float64(d.Count))
	d.P95 = quantile(0.95, bs, float64(d.Count))
	return d
}

// bucket is one cumulative histogram bucket.
type bucket struct {
	upper float64 // upper bound, inclusive
	count float64 // observations <= upper
}

// quantile estimates the q-quantile of a histogram from its cumulative
// buckets and total count the way PromQL's histogram_quantile does: it
// finds the bucket holding the rank q*total and interpolates linearly
// inside it, taking 0 as the lower bound of the first bucket. A rank past
// the last finite bucket gives that bucket's upper bound. It returns nil
// when there is nothing to estimate.
func quantile(q float64, bs []bucket, total float64) *float64 {
	if !(total > 0) || math.IsInf(total, 0) || q < 0 || q > 1 || math.IsNaN(q) {
		return nil
	}
	bs = slices.Clone(bs)
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.upper, b.upper) })
	for len(bs) > 0 && math.IsInf(bs[len(bs)-1].upper, 1) {
		bs = bs[:len(bs)-1]
	}
	if len(bs) == 0 || math.IsNaN(bs[0].upper) {
		return nil
	}
	rank := q * total
	prevUpper, prevCount := 0.0, 0.0
	if bs[0].upper <= 0 {
		prevUpper = bs[0].upper
	}
	for _, b := range bs {
		// Cumulative counts never fall; clamp any that do.
		count := max(b.count, prevCount)
		if count >= rank {
			v := b.upper
			if count > prevCount {
				v = prevUpper + (b.upper-prevUpper)*(rank-prevCount)/(count-prevCount)
			}
			return &v
		}
		prevUpper, prevCount = b.upper, count
	}
	v := bs[len(bs)-1].upper
	return &v
}
