// Package eval measures a tier router against labelled queries: tier
// accuracy, macro-F1, the confusion matrix, top-tier under-routing with a
// Wilson interval, cost against always using the top tier, and the
// cost–quality curve over the routing threshold with its area (RouterBench's
// AIQ). It also replays two-model routing on per-prompt outcomes (RouteLLM's
// evaluation data) against random and oracle routing.
package eval

import (
	"cmp"
	"math"
	"slices"
)

// Item is one evaluated query: the tier it needs, the tier a router chose,
// and what each tier would cost for it.
type Item struct {
	Want, Got int
	// Cost[t] is the cost of answering the query at tier t.
	Cost []float64
	// Handoff marks a query the router handed to a person; it counts as
	// served at the top tier, at the top tier's cost.
	Handoff bool
}

// Interval is a rate with its 95% Wilson score interval.
type Interval struct {
	Rate  float64 `json:"rate"`
	Count int     `json:"count"`
	N     int     `json:"n"`
	Lo    float64 `json:"ci95_lo"`
	Hi    float64 `json:"ci95_hi"`
}

// Wilson returns k/n with its 95% Wilson score interval.
func Wilson(k, n int) Interval {
	iv := Interval{Count: k, N: n}
	if n == 0 {
		return iv
	}
	const z = 1.959963984540054
	p := float64(k) / float64(n)
	nf := float64(n)
	den := 1 + z*z/nf
	mid := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	iv.Rate, iv.Lo, iv.Hi = p, max(0, mid-half), min(1, mid+half)
	return iv
}

// Metrics summarises one routing of a set of items.
type Metrics struct {
	N            int     `json:"n"`
	TierAccuracy float64 `json:"tier_accuracy"`
	MacroF1      float64 `json:"macro_f1"`
	// Confusion[want][got] counts items (handoffs count as the top tier).
	Confusion [][]int `json:"confusion"`
	// TopTierUnderRouting is the share of items needing the top tier that
	// were sent lower.
	TopTierUnderRouting Interval `json:"top_tier_under_routing"`
	// UnderRouting is the share of all items sent below their tier;
	// OverRouting above it.
	UnderRouting float64 `json:"under_routing"`
	OverRouting  float64 `json:"over_routing"`
	// Quality is the share served at or above the needed tier.
	Quality float64 `json:"quality"`
	// CostRatio is the routing's cost over always using the top tier.
	CostRatio float64 `json:"cost_ratio"`
	// TierShare[t] is the share of items routed to tier t.
	TierShare []float64 `json:"tier_share"`
	Handoffs  int       `json:"handoffs"`
}

// Measure computes the metrics of items over n tiers.
func Measure(items []Item, n int) Metrics {
	m := Metrics{N: len(items), Confusion: make([][]int, n), TierShare: make([]float64, n)}
	for i := range m.Confusion {
		m.Confusion[i] = make([]int, n)
	}
	var correct, under, over, served, top, topUnder int
	var cost, topCost float64
	for _, it := range items {
		got := it.Got
		if it.Handoff {
			got = n - 1
			m.Handoffs++
		}
		m.Confusion[it.Want][got]++
		m.TierShare[got]++
		switch {
		case got == it.Want:
			correct++
		case got < it.Want:
			under++
		default:
			over++
		}
		if got >= it.Want {
			served++
		}
		if it.Want == n-1 {
			top++
			if got < n-1 {
				topUnder++
			}
		}
		cost += it.Cost[got]
		topCost += it.Cost[n-1]
	}
	if len(items) == 0 {
		return m
	}
	nf := float64(len(items))
	m.TierAccuracy = float64(correct) / nf
	m.UnderRouting, m.OverRouting, m.Quality = float64(under)/nf, float64(over)/nf, float64(served)/nf
	for t := range m.TierShare {
		m.TierShare[t] /= nf
	}
	if topCost > 0 {
		m.CostRatio = cost / topCost
	}
	m.TopTierUnderRouting = Wilson(topUnder, top)
	f1 := 0.0
	classes := 0
	for t := range n {
		tp := m.Confusion[t][t]
		var fp, fn int
		for u := range n {
			if u != t {
				fp += m.Confusion[u][t]
				fn += m.Confusion[t][u]
			}
		}
		if tp+fp+fn == 0 {
			continue // a tier absent from truth and predictions
		}
		classes++
		f1 += 2 * float64(tp) / float64(2*tp+fp+fn)
	}
	if classes > 0 {
		m.MacroF1 = f1 / float64(classes)
	}
	return m
}

// Point is one operating point of a router.
type Point struct {
	Threshold float64 `json:"threshold"`
	CostRatio float64 `json:"cost_ratio"`
	Quality   float64 `json:"quality"`
}

// AIQ is RouterBench's average improvement in quality: the area under the
// non-decreasing upper convex hull of the (cost, quality) points, divided
// by the cost range they span. Fewer than two distinct costs give the best
// quality at that cost.
func AIQ(points []Point) float64 {
	h := Hull(points)
	if len(h) == 0 {
		return 0
	}
	if len(h) == 1 || h[len(h)-1].CostRatio == h[0].CostRatio {
		return h[len(h)-1].Quality
	}
	area := 0.0
	for i := 1; i < len(h); i++ {
		area += (h[i].CostRatio - h[i-1].CostRatio) * (h[i].Quality + h[i-1].Quality) / 2
	}
	return area / (h[len(h)-1].CostRatio - h[0].CostRatio)
}

// Hull returns the non-decreasing upper convex hull of points, by cost:
// the operating points reachable by mixing routers, with dominated ones
// (higher cost, no better quality) dropped and the best quality carried
// flat to the highest cost.
func Hull(points []Point) []Point {
	ps := slices.Clone(points)
	slices.SortFunc(ps, func(a, b Point) int {
		if c := cmp.Compare(a.CostRatio, b.CostRatio); c != 0 {
			return c
		}
		return cmp.Compare(b.Quality, a.Quality)
	})
	// Keep the best quality at each cost, and only points that improve on
	// every cheaper one (non-decreasing).
	var mono []Point
	for _, p := range ps {
		if len(mono) > 0 && p.Quality <= mono[len(mono)-1].Quality {
			continue
		}
		mono = append(mono, p)
	}
	// Upper hull (Andrew's monotone chain) of an increasing sequence.
	var h []Point
	for _, p := range mono {
		for len(h) >= 2 {
			a, b := h[len(h)-2], h[len(h)-1]
			cross := (b.CostRatio-a.CostRatio)*(p.Quality-a.Quality) - (b.Quality-a.Quality)*(p.CostRatio-a.CostRatio)
			if cross < 0 {
				break
			}
			h = h[:len(h)-1]
		}
		h = append(h, p)
	}
	// Non-decreasing: beyond the best point, quality stays flat up to the
	// most expensive point.
	if len(h) > 0 && ps[len(ps)-1].CostRatio > h[len(h)-1].CostRatio {
		h = append(h, Point{Threshold: ps[len(ps)-1].Threshold, CostRatio: ps[len(ps)-1].CostRatio, Quality: h[len(h)-1].Quality})
	}
	return h
}

// QualityAt returns the least cost ratio on the hull of points that reaches
// quality q (interpolating between hull points, i.e. mixing two routers),
// and false if none does. This is RouterBench's and RouteLLM's CPT-style
// "cost to reach q".
func QualityAt(points []Point, q float64) (float64, bool) {
	h := Hull(points)
	for i, p := range h {
		if p.Quality >= q {
			if i == 0 {
				return p.CostRatio, true
			}
			a := h[i-1]
			f := (q - a.Quality) / (p.Quality - a.Quality)
			return a.CostRatio + f*(p.CostRatio-a.CostRatio), true
		}
	}
	return 0, false
}
