// Package metrics defines strata's Prometheus metrics and records them:
// invocations, latency and time to first token, tokens, errors and
// throttles by type, per model and API; model loads and evictions;
// residency; and whatever other parts register.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"strata/internal/apierr"
	"strata/internal/router"
	"strata/internal/runtime"
)

// Metrics holds the registry and the metrics strata records.
type Metrics struct {
	Registry *prometheus.Registry

	invocations *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	ttft        *prometheus.HistogramVec
	tokens      *prometheus.CounterVec
	errors      *prometheus.CounterVec
	throttles   *prometheus.CounterVec
	findings    *prometheus.CounterVec
	loads       *prometheus.CounterVec
	loadTime    *prometheus.HistogramVec
	evictions   *prometheus.CounterVec
	queries     *prometheus.CounterVec
	queryCost   *prometheus.CounterVec
	queryTime   *prometheus.HistogramVec
}

// latencyBuckets span sub-millisecond to minutes.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// New returns Metrics on a fresh registry with the Go and process
// collectors registered.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) prometheus.Collector { reg.MustRegister(c); return c }
	m := &Metrics{Registry: reg}
	m.invocations = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_invocations_total", Help: "Model invocations by model, API and outcome (ok or the error type).",
	}, []string{"model", "api", "outcome"})).(*prometheus.CounterVec)
	m.latency = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "strata_invocation_latency_seconds", Help: "Invocation latency, request to last byte, by model and API.", Buckets: latencyBuckets,
	}, []string{"model", "api"})).(*prometheus.HistogramVec)
	m.ttft = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "strata_time_to_first_token_seconds", Help: "Time from request to the first output text, by model and API.", Buckets: latencyBuckets,
	}, []string{"model", "api"})).(*prometheus.HistogramVec)
	m.tokens = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_tokens_total", Help: "Tokens in and out, by model, API and direction.",
	}, []string{"model", "api", "direction"})).(*prometheus.CounterVec)
	m.errors = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_errors_total", Help: "Failed invocations by model, API and error type.",
	}, []string{"model", "api", "type"})).(*prometheus.CounterVec)
	m.throttles = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_throttles_total", Help: "Invocations refused by quotas or provisioned capacity, by model and API.",
	}, []string{"model", "api"})).(*prometheus.CounterVec)
	m.findings = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_guard_output_findings_total", Help: "Card data masked in model outputs, by model.",
	}, []string{"model"})).(*prometheus.CounterVec)
	m.loads = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_model_loads_total", Help: "Model copies loaded, by model and outcome.",
	}, []string{"model", "outcome"})).(*prometheus.CounterVec)
	m.loadTime = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "strata_model_load_seconds", Help: "Time to load one model copy.", Buckets: latencyBuckets,
	}, []string{"model"})).(*prometheus.HistogramVec)
	m.evictions = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_model_evictions_total", Help: "Models evicted from memory, by model.",
	}, []string{"model"})).(*prometheus.CounterVec)
	m.queries = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_queries_total", Help: "Support queries (POST /query) by answering tier, whether they escalated, and outcome.",
	}, []string{"tier", "escalated", "outcome"})).(*prometheus.CounterVec)
	m.queryCost = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_query_cost_usd_total", Help: "Cost of support queries in USD (every tier attempt), by tier and model.",
	}, []string{"tier", "model"})).(*prometheus.CounterVec)
	m.queryTime = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "strata_query_latency_seconds", Help: "Support query latency by answering tier.", Buckets: latencyBuckets,
	}, []string{"tier"})).(*prometheus.HistogramVec)
	return m
}

// Query records one support query's outcome.
func (m *Metrics) Query(o router.Outcome) {
	outcome := "ok"
	if o.Failed {
		outcome = "failed"
	}
	m.queries.WithLabelValues(o.Tier, strconv.FormatBool(o.Escalated), outcome).Inc()
	m.queryCost.WithLabelValues(o.Tier, o.Model).Add(o.CostUSD)
	m.queryTime.WithLabelValues(o.Tier).Observe(o.Latency.Seconds())
}

var _ runtime.Observer = (*Metrics)(nil)

// Observe implements runtime.Observer.
func (m *Metrics) Observe(ctx context.Context, inv *runtime.Invocation, res *runtime.Result, err error) {
	model := ""
	if inv.Target != nil {
		model = inv.Target.ARN
	}
	api := inv.API
	outcome := "ok"
	if err != nil {
		typ := apierr.From(err).Kind.String()
		if errors.Is(err, context.Canceled) {
			typ = "ClientClosed"
		}
		outcome = typ
		m.errors.WithLabelValues(model, api, typ).Inc()
		if k := apierr.From(err).Kind; k == apierr.Throttling {
			m.throttles.WithLabelValues(model, api).Inc()
		}
	}
	m.invocations.WithLabelValues(model, api, outcome).Inc()
	m.latency.WithLabelValues(model, api).Observe(res.Latency.Seconds())
	if res.FirstToken > 0 {
		m.ttft.WithLabelValues(model, api).Observe(res.FirstToken.Seconds())
	}
	m.tokens.WithLabelValues(model, api, "input").Add(float64(res.InputTokens))
	m.tokens.WithLabelValues(model, api, "output").Add(float64(res.OutputTokens))
	if res.OutputFindings > 0 {
		m.findings.WithLabelValues(model).Add(float64(res.OutputFindings))
	}
}

// ModelLoaded records one model-copy load (for runtime.ResidencyOptions.OnLoad).
func (m *Metrics) ModelLoaded(model string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.loads.WithLabelValues(model, outcome).Inc()
	if err == nil {
		m.loadTime.WithLabelValues(model).Observe(d.Seconds())
	}
}

// ModelEvicted records an eviction (for runtime.ResidencyOptions.OnEvict).
func (m *Metrics) ModelEvicted(model string) { m.evictions.WithLabelValues(model).Inc() }

// Residency exports the residency manager's state as gauges at scrape time.
func (m *Metrics) Residency(r *runtime.Residency) {
	m.Registry.MustRegister(&residencyCollector{r: r,
		copies:   prometheus.NewDesc("strata_model_copies", "Loaded copies of a model.", []string{"model"}, nil),
		inflight: prometheus.NewDesc("strata_model_inflight", "Requests a model is serving now.", []string{"model"}, nil),
		bytes:    prometheus.NewDesc("strata_model_resident_bytes", "Memory held by a model's loaded copies.", []string{"model"}, nil),
	})
}

type residencyCollector struct {
	r                       *runtime.Residency
	copies, inflight, bytes *prometheus.Desc
}

func (c *residencyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.copies
	ch <- c.inflight
	ch <- c.bytes
}

func (c *residencyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.r.Statuses() {
		ch <- prometheus.MustNewConstMetric(c.copies, prometheus.GaugeValue, float64(s.Copies), s.Key)
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(s.InFlight), s.Key)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.Bytes), s.Key)
	}
}

// Gauge registers a gauge computed at scrape time, for parts that own a
// figure (provisioned utilization, for one).
func (m *Metrics) Gauge(name, help string, labels []string, values func() []Sample) {
	m.Registry.MustRegister(&funcCollector{desc: prometheus.NewDesc(name, help, labels, nil), values: values})
}

// Sample is one labelled value of a Gauge.
type Sample struct {
	Labels []string
	Value  float64
}

type funcCollector struct {
	desc   *prometheus.Desc
	values func() []Sample
}

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.values() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, s.Value, s.Labels...)
	}
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
