// Package router picks the cost tier that answers a support query and
// accounts for what the answer cost.
//
// A [Config] lists the tiers, cheapest first, and chooses a strategy:
//
//   - "heuristic": the guides' analyze_query_complexity score, reproduced
//     exactly, with the guides' thresholds (< 3 simple, < 7 standard, else
//     complex). It is the baseline.
//   - "learned": a [Model], a multinomial logistic regression over hashed
//     word and character n-grams trained by [Train] from labelled queries and
//     an intent-to-tier map (AdaGrad on the intent cross-entropy plus the
//     tier-level one). It routes to the lowest tier whose calibrated
//     probability of needing a higher tier is below a bound.
//
// Hard [Rules] run before either strategy: fraud, dispute, stolen-card and
// chargeback language goes to the top tier; an explicit request for a person
// goes to a human handoff. The learned model also carries an out-of-scope
// class, trained on CLINC150's out-of-scope and non-banking queries, whose
// probability at or above a bound (chosen on the calibration slice for a
// target rate of in-scope handoffs) is a handoff too.
//
// [Cascade] runs the chosen tier through a consumer-side [Answerer] and
// escalates to the next tier when the answer's token log-probabilities are
// too low, or when the tier is throttled, fails or times out. [Cost] prices
// an answer from a tier's token and provisioned-hour prices, and [Summarize]
// aggregates [Outcome] records by tier, model and tag.
package router
