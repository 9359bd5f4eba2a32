// Package events sends job and model state-change events to webhooks.
//
// An event has the shape Amazon EventBridge gives AWS service events
// (version, id, detail-type, source "aws.bedrock", account, time, region,
// resources, detail), so rules and Lambda code written for Bedrock's events
// parse strata's unchanged.
//
// Delivery goes through a transactional outbox in the metadata store: Ops
// returns the store operations that record an event, one outbox record per
// matching webhook, and the caller appends them to the transaction that
// makes the state change, so the event exists exactly when the change is
// committed. Run, on every replica, claims due outbox records with a lease
// (an optimistic update, so replicas sharing one database deliver each
// record once at a time), POSTs the event and deletes the record on a 2xx
// answer; otherwise it retries with exponential backoff and gives up after
// a maximum age.
//
// Delivery is at least once and best effort, as Bedrock's own events are:
// a replica that dies after the receiver answered but before the record is
// deleted delivers the event again (same id) once its lease runs out, and
// an event that no attempt delivers within MaxAge is dropped (logged and
// counted). Order is not guaranteed. Receivers deduplicate by the event id
// (also in the X-Strata-Event-Id header) and order by the detail's
// lastModifiedTime.
//
// # Request and signature
//
// Each attempt is a POST with Content-Type application/json whose body is
// the event JSON, and the headers
//
//	X-Strata-Event-Id:  the event id
//	X-Strata-Timestamp: the attempt's time, in Unix seconds
//	X-Strata-Signature: v1=HEX (only when the webhook has a secret)
//
// where HEX is the lowercase hex HMAC-SHA256, keyed with the secret, of the
// timestamp header's value, a period, and the raw body bytes. A receiver
// recomputes it over the body exactly as received (before any JSON
// parsing), compares in constant time, and rejects timestamps further than
// a few minutes from its clock, which bounds replays; Verify does all of
// this for Go receivers. Redirects are not followed (a 3xx is a failure),
// at most 4 KiB of a response body is read, and an attempt is cut after
// Options.Timeout.
//
// A webhook without a secret is allowed only on a loopback address
// (127.0.0.0/8, ::1, localhost), where no other machine can send forged
// events; every other webhook must be signed.
package events

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strata/internal/store"
)

// Source is the source of every event strata emits, as Bedrock's.
const Source = "aws.bedrock"

// KindOutbox is the store kind of outbox records. They all belong to the
// account "" (strata itself), whatever the event's account.
const KindOutbox = "event-outbox"

// Event is an EventBridge-shaped event. Its JSON is the body webhooks get.
type Event struct {
	Version    string          `json:"version"`     // "0"
	ID         string          `json:"id"`          // unique; the same on every delivery attempt
	DetailType string          `json:"detail-type"` // e.g. "Model Customization Job State Change"
	Source     string          `json:"source"`      // "aws.bedrock"
	Account    string          `json:"account"`     // the owning account id
	Time       time.Time       `json:"time"`        // marshaled RFC 3339 in UTC, whole seconds
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"` // ARNs; marshaled [] when empty
	Detail     json.RawMessage `json:"detail"`    // a JSON object; marshaled {} when empty
}

// MarshalJSON writes e in EventBridge's shape: time in RFC 3339 UTC with
// whole seconds, resources an array and detail an object even when empty.
func (e Event) MarshalJSON() ([]byte, error) {
	type wire struct {
		Version    string          `json:"version"`
		ID         string          `json:"id"`
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Account    string          `json:"account"`
		Time       string          `json:"time"`
		Region     string          `json:"region"`
		Resources  []string        `json:"resources"`
		Detail     json.RawMessage `json:"detail"`
	}
	w := wire{
		Version: e.Version, ID: e.ID, DetailType: e.DetailType, Source: e.Source, Account: e.Account,
		Time: e.Time.UTC().Format(time.RFC3339), Region: e.Region, Resources: e.Resources, Detail: e.Detail,
	}
	if w.Resources == nil {
		w.Resources = []string{}
	}
	if len(w.Detail) == 0 {
		w.Detail = json.RawMessage("{}")
	}
	return json.Marshal(w)
}

// normalize fills the fields a caller may leave empty.
func (e *Event) normalize(now time.Time) {
	if e.Version == "" {
		e.Version = "0"
	}
	if e.ID == "" {
		e.ID = newID()
	}
	if e.Source == "" {
		e.Source = Source
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Truncate(time.Second)
}

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Endpoint is a webhook.
type Endpoint struct {
	Name        string   // unique; in logs, metrics and outbox records: [A-Za-z0-9_.-]{1,64}
	URL         string   // http:// or https://host[:port]/path, no user info or fragment
	Secret      string   // HMAC-SHA256 key; "" (unsigned) only for a loopback host
	DetailTypes []string // only these detail-types; empty means all
	Accounts    []string // only events of these 12-digit accounts; empty means all
}

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
)

// Validate checks the endpoint's name, URL, secret rule and filters.
func (ep Endpoint) Validate() error {
	if !nameRE.MatchString(ep.Name) {
		return fmt.Errorf("events: endpoint name %q must be 1 to 64 of A-Z a-z 0-9 _ . -", ep.Name)
	}
	u, err := url.Parse(ep.URL)
	if err != nil {
		return fmt.Errorf("events: endpoint %s: url: %v", ep.Name, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("events: endpoint %s: url scheme must be http or https", ep.Name)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("events: endpoint %s: url has no host", ep.Name)
	}
	if u.User != nil {
		return fmt.Errorf("events: endpoint %s: url must not hold user info (use the secret to authenticate)", ep.Name)
	}
	if u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("events: endpoint %s: url must not have a fragment", ep.Name)
	}
	if ep.Secret == "" && !IsLoopback(u.Hostname()) {
		return fmt.Errorf("events: endpoint %s: a webhook on a non-loopback host needs a secret to sign its events", ep.Name)
	}
	for _, dt := range ep.DetailTypes {
		if strings.TrimSpace(dt) == "" {
			return fmt.Errorf("events: endpoint %s: empty detail type", ep.Name)
		}
	}
	for _, a := range ep.Accounts {
		if !accountRE.MatchString(a) {
			return fmt.Errorf("events: endpoint %s: account %q is not a 12-digit account id", ep.Name, a)
		}
	}
	return nil
}

// IsLoopback reports whether host (a name or IP, without port) is a
// loopback address: localhost, 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (ep Endpoint) matches(e Event) bool {
	return (len(ep.DetailTypes) == 0 || slices.Contains(ep.DetailTypes, e.DetailType)) &&
		(len(ep.Accounts) == 0 || slices.Contains(ep.Accounts, e.Account))
}

// Defaults of the Options knobs.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultFirstRetry   = time.Second
	DefaultMaxRetry     = 5 * time.Minute
	DefaultMaxAge       = 24 * time.Hour
	DefaultPollInterval = time.Second
	DefaultConcurrency  = 4
)

// Options configures a Bus. Zero knobs take the defaults above.
type Options struct {
	Store     store.Store  // non-nil
	Endpoints []Endpoint   // or none: Ops records nothing
	Client    *http.Client // or nil for a plain client; redirects are never followed either way
	// NodeID names this replica in leases; keep it across restarts so a
	// restarted node takes back its own leases at once. "" picks a random one.
	NodeID     string
	Logger     *slog.Logger          // or nil to discard
	Now        func() time.Time      // or nil for time.Now
	Registerer prometheus.Registerer // or nil: counters only in Stats

	// Timeout bounds one delivery attempt (connect, request, response
	// head and the first 4 KiB of body). Default 10s.
	Timeout time.Duration
	// FirstRetry is the wait after the first failed attempt; it doubles
	// per failure up to MaxRetry. Defaults 1s and 5m.
	FirstRetry time.Duration
	MaxRetry   time.Duration
	// MaxAge is how long after it was recorded an event is retried: an
	// event whose next attempt would fall later is dropped. Default 24h.
	MaxAge time.Duration
	// PollInterval is how often Run looks for events recorded by other
	// replicas (Wake makes it look at once). Default 1s.
	PollInterval time.Duration
	// Concurrency is how many deliveries one Run makes at once. Default 4.
	Concurrency int
}

// Stats counts a Bus's outcomes since New.
type Stats struct {
	Delivered int64 // records delivered (2xx) and deleted
	Failed    int64 // failed attempts, each rescheduled or dropped
	Dropped   int64 // records given up (too old, or unencodable events)
}

// Bus records events in the outbox and delivers them.
type Bus struct {
	o      Options
	eps    []Endpoint
	byName map[string]Endpoint
	client *http.Client
	log    *slog.Logger
	wake   chan struct{}

	delivered, failed, dropped    atomic.Int64
	mDelivered, mFailed, mDropped *prometheus.CounterVec // nil without a Registerer

	mu       sync.Mutex
	inflight map[string]bool // +checklocks:mu; outbox ids this Run is delivering
}

// New validates the endpoints and returns a Bus.
func New(o Options) (*Bus, error) {
	if o.Store == nil {
		return nil, errors.New("events: Options.Store is nil")
	}
	b := &Bus{byName: make(map[string]Endpoint), wake: make(chan struct{}, 1), inflight: make(map[string]bool)}
	for _, ep := range o.Endpoints {
		if err := ep.Validate(); err != nil {
			return nil, err
		}
		if _, dup := b.byName[ep.Name]; dup {
			return nil, fmt.Errorf("events: endpoint name %q is repeated", ep.Name)
		}
		ep.DetailTypes = slices.Clone(ep.DetailTypes)
		ep.Accounts = slices.Clone(ep.Accounts)
		b.byName[ep.Name] = ep
		b.eps = append(b.eps, ep)
	}
	if o.Timeout < 0 || o.FirstRetry < 0 || o.MaxRetry < 0 || o.MaxAge < 0 || o.PollInterval < 0 || o.Concurrency < 0 {
		return nil, errors.New("events: negative option")
	}
	o.Timeout = cmpOr(o.Timeout, DefaultTimeout)
	o.FirstRetry = cmpOr(o.FirstRetry, DefaultFirstRetry)
	o.MaxRetry = max(cmpOr(o.MaxRetry, DefaultMaxRetry), o.FirstRetry)
	o.MaxAge = cmpOr(o.MaxAge, DefaultMaxAge)
	o.PollInterval = cmpOr(o.PollInterval, DefaultPollInterval)
	o.Concurrency = cmpOr(o.Concurrency, DefaultConcurrency)
	if o.NodeID == "" {
		o.NodeID = "events-" + newID()[:8]
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b.log = o.Logger
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	c := &http.Client{}
	if o.Client != nil {
		*c = *o.Client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	b.client = c
	o.Endpoints = b.eps
	b.o = o
	if o.Registerer != nil {
		vec := func(name, help string) (*prometheus.CounterVec, error) {
			v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"endpoint"})
			return v, o.Registerer.Register(v)
		}
		var err error
		if b.mDelivered, err = vec("strata_events_delivered_total", "Events delivered to a webhook (2xx), by endpoint."); err != nil {
			return nil, fmt.Errorf("events: registering metrics: %w", err)
		}
		if b.mFailed, err = vec("strata_events_failed_attempts_total", "Failed webhook delivery attempts, by endpoint."); err != nil {
			return nil, fmt.Errorf("events: registering metrics: %w", err)
		}
		if b.mDropped, err = vec("strata_events_dropped_total", "Events given up after the maximum age, by endpoint."); err != nil {
			return nil, fmt.Errorf("events: registering metrics: %w", err)
		}
	}
	return b, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Endpoints returns the validated endpoints.
func (b *Bus) Endpoints() []Endpoint { return slices.Clone(b.eps) }

// Stats returns the counters.
func (b *Bus) Stats() Stats {
	return Stats{Delivered: b.delivered.Load(), Failed: b.failed.Load(), Dropped: b.dropped.Load()}
}

// entry is an outbox record's document.
type entry struct {
	Endpoint    string          `json:"endpoint"`
	Event       json.RawMessage `json:"event"` // the exact body to POST
	EventID     string          `json:"eventId"`
	Attempts    int             `json:"attempts,omitempty"`
	NextAttempt time.Time       `json:"nextAttempt,omitzero"`
	LeaseOwner  string          `json:"leaseOwner,omitempty"`
	LeaseUntil  time.Time       `json:"leaseUntil,omitzero"`
	LastError   string          `json:"lastError,omitempty"`
}

// Ops returns the store operations that record e for delivery to every
// matching endpoint (one outbox record each), for the caller to append to
// the transaction that makes the state change; after that transaction
// commits, call Wake. Empty fields of e are filled: version "0", a random
// id, source "aws.bedrock", time now. With no matching endpoint, or when
// e's detail is not valid JSON (logged and counted as dropped, so a bad
// event never fails the caller's transaction), Ops returns nil.
func (b *Bus) Ops(e Event) []store.Op {
	now := b.o.Now().UTC()
	e.normalize(now)
	var ops []store.Op
	var body []byte
	for _, ep := range b.eps {
		if !ep.matches(e) {
			continue
		}
		if body == nil {
			var err error
			if body, err = json.Marshal(e); err != nil {
				b.log.Error("encoding an event; it is dropped", "event", e.ID, "detail_type", e.DetailType, "err", err)
				b.dropped.Add(1)
				return nil
			}
		}
		data, err := json.Marshal(entry{Endpoint: ep.Name, Event: body, EventID: e.ID})
		if err != nil {
			b.log.Error("encoding an outbox record; the event is dropped", "event", e.ID, "err", err)
			b.dropped.Add(1)
			return nil
		}
		ops = append(ops, store.Op{Create: &store.Record{
			Kind: KindOutbox, ID: e.ID + "/" + ep.Name, Status: "pending", Created: now, Data: data,
		}})
	}
	return ops
}

// Publish records e in its own transaction, for state changes not made in
// one, and wakes Run.
func (b *Bus) Publish(ctx context.Context, e Event) error {
	ops := b.Ops(e)
	if len(ops) == 0 {
		return nil
	}
	if err := b.o.Store.Apply(ctx, ops); err != nil {
		return fmt.Errorf("recording event: %w", err)
	}
	b.Wake()
	return nil
}

// Wake makes Run look for due events now.
func (b *Bus) Wake() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// maxResponse bounds how much of a response body is read.
const maxResponse = 4 << 10

// post makes one delivery attempt and returns nil on a 2xx answer.
func (b *Bus) post(ctx context.Context, ep Endpoint, e entry) error {
	ctx, cancel := context.WithTimeout(ctx, b.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(e.Event))
	if err != nil {
		return err
	}
	ts := b.o.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "strata-events/1")
	req.Header.Set(HeaderEventID, e.EventID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(ts))
	if ep.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(ep.Secret, ts, e.Event))
	}
	resp, err := b.client.Do(req)
	if err != nil {
		// Keep the cause, not the URL, which may hold a token.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	if len(snippet) > 200 {
		snippet = snippet[:200]
	}
	return fmt.Errorf("status %d: %q", resp.StatusCode, snippet)
}
