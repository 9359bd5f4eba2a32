// Package audit is strata's tamper-evident audit trail: every API request
// and every model invocation becomes an event, appended to a hash chain in
// the metadata store. Each event's hash covers its content and the previous
// event's hash, so changing, removing or reordering any stored event breaks
// every hash after it, which Verify finds.
//
// Events hold who did what to which resource and with what outcome, token
// counts, cost and latency, and counts of card data found — never prompt or
// output text, so the trail holds no cardholder data.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"strata/internal/store"
)

// Kind is the store record kind of audit events.
const Kind = "audit-event"

// Event is one audited action.
type Event struct {
	Seq       int64     `json:"seq"`
	Node      string    `json:"node"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId,omitempty"`
	Principal string    `json:"principal,omitempty"` // ARN
	Account   string    `json:"account,omitempty"`
	SourceIP  string    `json:"sourceIp,omitempty"`
	API       string    `json:"api"`       // "bedrock", "openai", "support", ...
	Operation string    `json:"operation"` // "InvokeModel", "CreateModelImportJob", ...
	Resource  string    `json:"resource,omitempty"`
	Outcome   string    `json:"outcome"` // "ok" or the error type

	Model          string            `json:"model,omitempty"`
	Tier           string            `json:"tier,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	InputTokens    int               `json:"inputTokens,omitempty"`
	OutputTokens   int               `json:"outputTokens,omitempty"`
	CostUSD        float64           `json:"costUsd,omitempty"`
	LatencyMS      int64             `json:"latencyMs,omitempty"`
	InputFindings  int               `json:"inputFindings,omitempty"`
	OutputFindings int               `json:"outputFindings,omitempty"`
	Escalated      bool              `json:"escalated,omitempty"`

	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

// digest is the event's hash: SHA-256 over its JSON without Hash, which
// includes PrevHash.
func (e Event) digest() string {
	e.Hash = ""
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Trail appends events to one node's hash chain. Appends are batched: an
// event is durable once Flush returns or within FlushInterval.
type Trail struct {
	st   store.Store
	node string
	log  *slog.Logger

	mu      sync.Mutex
	seq     int64     // +checklocks:mu; of the last appended event
	last    time.Time // +checklocks:mu; its time (times are strictly increasing)
	pending []Event   // +checklocks:mu; appended, not yet written

	flushing sync.Mutex // serializes writes to the store
	prev     string     // +checklocks:flushing; hash of the last written event
}

// genesis is the PrevHash of a chain's first event.
const genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// FlushInterval is the longest an appended event waits before it is written.
const FlushInterval = 100 * time.Millisecond

// Open continues node's chain in st.
func Open(ctx context.Context, st store.Store, node string, log *slog.Logger) (*Trail, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Trail{st: st, node: node, log: log, prev: genesis}
	// The chain's last event: scan backwards through this node's events.
	var token string
	for {
		recs, next, err := st.List(ctx, store.Query{Kind: Kind, Account: "", NameContains: node + "/", Limit: 1, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("reading the audit trail: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		var e Event
		if err := json.Unmarshal(recs[0].Data, &e); err != nil {
			return nil, fmt.Errorf("reading audit event %s: %w", recs[0].ID, err)
		}
		if e.Node == node {
			t.seq, t.prev, t.last = e.Seq, e.Hash, e.Time
			break
		}
		if next == "" {
			break
		}
		token = next
	}
	return t, nil
}

func eventID(node string, seq int64) string { return fmt.Sprintf("%s/%016d", node, seq) }

// Append adds e to the chain. It fills Seq, Node and Time (if zero); the
// hashes are computed when the event is written, off the request path.
func (t *Trail) Append(e Event) {
	t.mu.Lock()
	t.seq++
	e.Seq, e.Node = t.seq, t.node
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if !e.Time.After(t.last) {
		e.Time = t.last.Add(time.Microsecond)
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	t.last = e.Time
	t.pending = append(t.pending, e)
	t.mu.Unlock()
}

// seal chains e after prev: it sets PrevHash and Hash and returns the
// event's JSON. Hash is the last field, so the document is marshalled once
// with an empty hash, hashed, and the hash put in place.
func seal(e *Event, prev string) []byte {
	e.PrevHash, e.Hash = prev, ""
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	e.Hash = hex.EncodeToString(sum[:])
	const tail = `"hash":""}`
	return append(b[:len(b)-len(tail)], `"hash":"`+e.Hash+`"}`...)
}

// Flush writes the pending events.
func (t *Trail) Flush(ctx context.Context) error {
	t.flushing.Lock()
	defer t.flushing.Unlock()
	t.mu.Lock()
	events := t.pending
	t.pending = nil
	t.mu.Unlock()
	for len(events) > 0 {
		n := min(len(events), 500)
		prev := t.prev
		ops := make([]store.Op, n)
		for i := range n {
			e := &events[i]
			data := seal(e, prev)
			prev = e.Hash
			ops[i] = store.Op{Create: &store.Record{Kind: Kind, ID: eventID(t.node, e.Seq), Name: eventID(t.node, e.Seq),
				Status: e.Outcome, Created: e.Time, Data: data}}
		}
		if err := t.st.Apply(ctx, ops); err != nil {
			// Keep them for the next try, ahead of newer events.
			t.mu.Lock()
			t.pending = append(events, t.pending...)
			t.mu.Unlock()
			return fmt.Errorf("writing audit events: %w", err)
		}
		t.prev = prev
		events = events[n:]
	}
	return nil
}

// Run flushes every FlushInterval until ctx is done, then once more.
func (t *Trail) Run(ctx context.Context) error {
	tick := time.NewTicker(FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return t.Flush(context.WithoutCancel(ctx))
		case <-tick.C:
			if err := t.Flush(ctx); err != nil && ctx.Err() == nil {
				t.log.Error("audit flush", "err", err)
			}
		}
	}
}

// ErrBroken is wrapped by Verify's error for a chain that was tampered with.
var ErrBroken = errors.New("audit: the hash chain is broken")

// Report is what Verify found.
type Report struct {
	Events int            // events checked
	Nodes  map[string]int // events per node chain
}

// Verify walks every event in st and checks each node's hash chain: every
// event's hash matches its content, its PrevHash is the previous event's
// hash, and sequence numbers have no gaps.
func Verify(ctx context.Context, st store.Store) (Report, error) {
	r := Report{Nodes: map[string]int{}}
	type head struct {
		seq  int64
		hash string
	}
	heads := map[string]head{}
	var token string
	for {
		recs, next, err := st.List(ctx, store.Query{Kind: Kind, Ascending: true, Limit: 1000, PageToken: token})
		if err != nil {
			return r, err
		}
		for _, rec := range recs {
			var e Event
			if err := json.Unmarshal(rec.Data, &e); err != nil {
				return r, fmt.Errorf("%w: event %s is not readable: %v", ErrBroken, rec.ID, err)
			}
			if rec.ID != eventID(e.Node, e.Seq) {
				return r, fmt.Errorf("%w: record %s holds event %s", ErrBroken, rec.ID, eventID(e.Node, e.Seq))
			}
			if e.digest() != e.Hash {
				return r, fmt.Errorf("%w: event %s was altered (its hash does not match its content)", ErrBroken, rec.ID)
			}
			h, ok := heads[e.Node]
			if !ok {
				h = head{0, genesis}
			}
			if e.Seq != h.seq+1 {
				return r, fmt.Errorf("%w: node %s jumps from event %d to %d (events removed or reordered)", ErrBroken, e.Node, h.seq, e.Seq)
			}
			if e.PrevHash != h.hash {
				return r, fmt.Errorf("%w: event %s does not follow event %d", ErrBroken, rec.ID, h.seq)
			}
			heads[e.Node] = head{e.Seq, e.Hash}
			r.Events++
			r.Nodes[e.Node]++
		}
		if next == "" {
			return r, nil
		}
		token = next
	}
}

// List returns events in time order within [from, to) (zero times are
// open ends), for reports.
func List(ctx context.Context, st store.Store, from, to time.Time, fn func(Event) error) error {
	var token string
	q := store.Query{Kind: Kind, Ascending: true, Limit: 1000, CreatedBefore: to}
	if !from.IsZero() {
		q.CreatedAfter = from.Add(-time.Nanosecond)
	}
	for {
		q.PageToken = token
		recs, next, err := st.List(ctx, q)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			var e Event
			if err := json.Unmarshal(rec.Data, &e); err != nil {
				return fmt.Errorf("reading audit event %s: %w", rec.ID, err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		token = next
	}
}
