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
	"bytes"
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

// Kind is the store record kind of audit blocks. A block holds the events
// of one flush of one node's chain, in order: one record per flush rather
// than per event, because a metadata-store insert costs far more than
// hashing an event. A block's id and name are those of its first event
// (node/sequence) and its creation time that event's time.
const Kind = "audit-block"

// Limits on a block: a flush writes several blocks when it has more
// events, or events further apart in time, than one may hold.
const (
	maxBlockEvents = 1000
	// maxBlockSpan bounds the time between a block's first and last
	// events, so List can find every block that holds events of a range.
	maxBlockSpan = time.Minute
)

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
	spare   []Event   // +checklocks:mu; an emptied pending array, for reuse

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
	// The chain's last event is the last of this node's newest block.
	var token string
	for {
		recs, next, err := st.List(ctx, store.Query{Kind: Kind, Account: "", NameContains: node + "/", Limit: 1, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("reading the audit trail: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		events, err := readBlock(recs[0])
		if err != nil {
			return nil, err
		}
		if e := events[len(events)-1]; e.Node == node {
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

// sealer chains events, encoding each into one reused buffer.
type sealer struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newSealer() *sealer {
	s := &sealer{}
	s.enc = json.NewEncoder(&s.buf)
	return s
}

// seal chains e after prev: it sets PrevHash and Hash and appends the
// event's JSON (json.Marshal's bytes) to dst. Hash is the last field, so
// the document is encoded once with an empty hash, hashed, and the hash
// put in place.
func (s *sealer) seal(dst []byte, e *Event, prev string) []byte {
	e.PrevHash, e.Hash = prev, ""
	s.buf.Reset()
	s.enc.Encode(e) // Marshal's bytes and a newline; an Event always encodes
	b := bytes.TrimSuffix(s.buf.Bytes(), []byte{'\n'})
	sum := sha256.Sum256(b)
	var h [64]byte
	hex.Encode(h[:], sum[:])
	e.Hash = string(h[:])
	const tail = `"hash":""}`
	dst = append(dst, b[:len(b)-len(tail)]...)
	dst = append(dst, `"hash":"`...)
	dst = append(dst, h[:]...)
	return append(dst, `"}`...)
}

// Flush writes the pending events.
func (t *Trail) Flush(ctx context.Context) error {
	t.flushing.Lock()
	defer t.flushing.Unlock()
	t.mu.Lock()
	events := t.pending
	t.pending, t.spare = t.spare, nil
	t.mu.Unlock()
	if len(events) == 0 {
		t.mu.Lock()
		t.spare = events
		t.mu.Unlock()
		return nil
	}
	prev := t.prev
	var ops []store.Op
	s := newSealer()
	for i := 0; i < len(events); {
		first := &events[i]
		// Invocation events take 400-600 bytes.
		data := make([]byte, 1, 64+min(len(events)-i, maxBlockEvents)*600)
		data[0] = '['
		n := 0
		for ; i < len(events) && n < maxBlockEvents && events[i].Time.Sub(first.Time) <= maxBlockSpan; i, n = i+1, n+1 {
			if n > 0 {
				data = append(data, ',')
			}
			data = s.seal(data, &events[i], prev)
			prev = events[i].Hash
		}
		data = append(data, ']')
		id := eventID(t.node, first.Seq)
		ops = append(ops, store.Op{Create: &store.Record{Kind: Kind, ID: id, Name: id, Created: first.Time, Data: data}})
	}
	if err := t.st.Apply(ctx, ops); err != nil {
		// Keep them for the next try, ahead of newer events.
		t.mu.Lock()
		t.pending = append(events, t.pending...)
		t.mu.Unlock()
		return fmt.Errorf("writing audit events: %w", err)
	}
	t.prev = prev
	// Keep the array for the next events, emptied so it holds nothing.
	clear(events)
	t.mu.Lock()
	if t.spare == nil {
		t.spare = events[:0]
	}
	t.mu.Unlock()
	return nil
}

// readBlock returns the events of a block record, at least one.
func readBlock(rec store.Record) ([]Event, error) {
	var events []Event
	if err := json.Unmarshal(rec.Data, &events); err != nil {
		return nil, fmt.Errorf("%w: audit block %s is not readable: %v", ErrBroken, rec.ID, err)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: audit block %s is empty", ErrBroken, rec.ID)
	}
	if first := events[0]; rec.ID != eventID(first.Node, first.Seq) {
		return nil, fmt.Errorf("%w: record %s holds event %s", ErrBroken, rec.ID, eventID(first.Node, first.Seq))
	}
	return events, nil
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
			events, err := readBlock(rec)
			if err != nil {
				return r, err
			}
			for _, e := range events {
				id := eventID(e.Node, e.Seq)
				if e.Node != events[0].Node {
					return r, fmt.Errorf("%w: block %s holds event %s of another node", ErrBroken, rec.ID, id)
				}
				if e.digest() != e.Hash {
					return r, fmt.Errorf("%w: event %s was altered (its hash does not match its content)", ErrBroken, id)
				}
				h, ok := heads[e.Node]
				if !ok {
					h = head{0, genesis}
				}
				if e.Seq != h.seq+1 {
					return r, fmt.Errorf("%w: node %s jumps from event %d to %d (events removed or reordered)", ErrBroken, e.Node, h.seq, e.Seq)
				}
				if e.PrevHash != h.hash {
					return r, fmt.Errorf("%w: event %s does not follow event %d", ErrBroken, id, h.seq)
				}
				heads[e.Node] = head{e.Seq, e.Hash}
				r.Events++
				r.Nodes[e.Node]++
			}
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
		// A block starting up to maxBlockSpan before from may hold events
		// of the range.
		q.CreatedAfter = from.Add(-maxBlockSpan - time.Nanosecond)
	}
	for {
		q.PageToken = token
		recs, next, err := st.List(ctx, q)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			events, err := readBlock(rec)
			if err != nil {
				return err
			}
			for _, e := range events {
				if e.Time.Before(from) || (!to.IsZero() && !e.Time.Before(to)) {
					continue
				}
				if err := fn(e); err != nil {
					return err
				}
			}
		}
		if next == "" {
			return nil
		}
		token = next
	}
}
