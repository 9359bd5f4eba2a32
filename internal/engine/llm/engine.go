package llm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"strata/internal/chat"
	"strata/internal/engine"
	"strata/internal/tokenizer"
)

// Options configure an Engine. The zero value is usable.
type Options struct {
	MaxSeqs int          // sequences decoded together; more requests wait. Default 8.
	Logger  *slog.Logger // nil means discard
}

// Engine implements engine.Engine over a Model with continuous batching:
// one goroutine runs the model; every step it joins each active sequence's
// next token (or its next prefill chunk, one chunk per step) into a single
// forward pass.
type Engine struct {
	model *Model
	tok   *tokenizer.Tokenizer
	tmpl  chat.Template
	eos   []int // ids that end every generation
	eot   []int // ids that also end a chat reply (the template's end tokens)
	log   *slog.Logger

	steps, seqSteps atomic.Uint64
	maxBatch        atomic.Int64

	slots  chan struct{} // one per admitted request
	submit chan *request
	quit   chan struct{}
	done   chan struct{}
	close  sync.Once
}

var _ engine.Engine = (*Engine)(nil)

// Open loads the model folder dir (weights, tokenizer, chat template) and
// starts an engine over it.
func Open(dir string, lo LoadOptions, opts Options) (*Engine, error) {
	m, err := LoadModel(dir, lo)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("llm: %w", err)
	}
	if tok.VocabSize() > m.Config.Vocab {
		m.Close()
		return nil, fmt.Errorf("llm: tokenizer has %d ids, the model %d", tok.VocabSize(), m.Config.Vocab)
	}
	tmpl, err := chat.LoadTemplate(dir, tok)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("llm: %w", err)
	}
	return NewEngine(m, tok, tmpl, opts), nil
}

// NewEngine starts an engine over m, its tokenizer and chat template.
// Close stops it and closes m.
func NewEngine(m *Model, tok *tokenizer.Tokenizer, tmpl chat.Template, opts Options) *Engine {
	if opts.MaxSeqs <= 0 {
		opts.MaxSeqs = 8
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var eot []int
	for _, t := range tmpl.EndTokens() {
		if id, ok := tok.ID(t); ok {
			eot = append(eot, id)
		}
	}
	e := &Engine{
		model: m, tok: tok, tmpl: tmpl, eos: tok.EOS(), log: log,
		eot:    eot,
		slots:  make(chan struct{}, opts.MaxSeqs),
		submit: make(chan *request),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	e.log.Info("engine ready", "model", m.Config.architectureName(), "threads", m.pool.n, "max_seqs", opts.MaxSeqs)
	go e.run()
	return e
}

// Model returns the engine's model.
func (e *Engine) Model() *Model { return e.model }

// Close stops the scheduler and releases the model.
func (e *Engine) Close() error {
	var err error
	e.close.Do(func() {
		close(e.quit)
		<-e.done
		err = e.model.Close()
	})
	return err
}

// Stats are counters of the scheduler's work since the engine started.
type Stats struct {
	Steps    uint64 // forward passes
	SeqSteps uint64 // sum over forward passes of the sequences in each
	MaxBatch int    // most sequences joined in one forward pass
}

// Stats returns the scheduler's counters.
func (e *Engine) Stats() Stats {
	return Stats{Steps: e.steps.Load(), SeqSteps: e.seqSteps.Load(), MaxBatch: int(e.maxBatch.Load())}
}

// ErrClosed is returned by Generate after Close.
var ErrClosed = errors.New("llm: engine closed")

// prompt returns the prompt ids of req and whether it is a chat.
// Message contents and completion prompts are encoded as plain text, so
// control-token strings in them stay text.
func (e *Engine) prompt(req engine.Request) ([]int, bool, error) {
	if len(req.Messages) > 0 {
		if req.Prompt.Valid() {
			return nil, false, errors.New("llm: request sets both a prompt and messages")
		}
		msgs := make([]chat.Message, len(req.Messages))
		for i, m := range req.Messages {
			if !m.Content.Valid() {
				return nil, false, engine.ErrUnguarded
			}
			msgs[i] = chat.Message{Role: m.Role, Content: m.Content.String()}
		}
		segs, err := chat.Format(e.tmpl, msgs, true)
		if err != nil {
			return nil, false, fmt.Errorf("llm: %w", err)
		}
		return chat.Encode(e.tok, segs), true, nil
	}
	if !req.Prompt.Valid() {
		return nil, false, engine.ErrUnguarded
	}
	ids := e.tok.Encode(req.Prompt.String(), e.tok.AddBOS())
	if len(ids) == 0 {
		return nil, false, errors.New("llm: empty prompt")
	}
	return ids, false, nil
}

// CountTokens returns the number of prompt tokens req would use.
func (e *Engine) CountTokens(ctx context.Context, req engine.Request) (int, error) {
	ids, _, err := e.prompt(req)
	return len(ids), err
}

// request is one generation as the scheduler sees it.
type request struct {
	prompt    []int
	maxTokens int
	sampler   *sampler
	logprobs  bool
	end       []int // ids that end the generation

	cancelled atomic.Bool // set by Generate; the scheduler drops the request
	events    chan event  // buffered for every event the request can get

	// Owned by the scheduler goroutine.
	cache  *Cache
	fed    int // prompt tokens in the cache
	last   int // last sampled token, fed at the next step
	out    int // tokens generated
	logits []float32
}

// event is one scheduler result for a request.
type event struct {
	id      int
	logprob float64
	stop    engine.StopReason // set on the last event
	err     error
}

// Generate runs req, calling emit for each token in order.
func (e *Engine) Generate(ctx context.Context, req engine.Request, emit func(engine.Token) error) (engine.Result, error) {
	ids, isChat, err := e.prompt(req)
	if err != nil {
		return engine.Result{}, err
	}
	if req.MaxTokens <= 0 {
		return engine.Result{}, errors.New("llm: MaxTokens must be positive")
	}
	room := e.model.Config.MaxSeq - len(ids)
	if room <= 0 {
		return engine.Result{}, fmt.Errorf("llm: prompt of %d tokens fills the %d-token context", len(ids), e.model.Config.MaxSeq)
	}
	seed := rand.Uint64()
	if req.Seed != nil {
		seed = uint64(*req.Seed)
	}
	r := &request{
		prompt:    ids,
		maxTokens: min(req.MaxTokens, room),
		sampler:   newSampler(Sampling{Temperature: req.Temperature, TopP: req.TopP, TopK: req.TopK}, seed),
		logprobs:  req.Logprobs,
		end:       e.eos,
	}
	stops := slices.DeleteFunc(slices.Clone(req.Stop), func(s string) bool { return s == "" })
	if isChat {
		r.end = append(slices.Clone(e.eos), e.eot...)
		stops = append(stops, e.tmpl.StopSequences()...)
	}
	r.events = make(chan event, r.maxTokens+1)

	// Wait for a slot, then hand the request to the scheduler.
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		return engine.Result{}, ctx.Err()
	case <-e.quit:
		return engine.Result{}, ErrClosed
	}
	release := sync.OnceFunc(func() { <-e.slots })
	defer release()
	select {
	case e.submit <- r:
	case <-ctx.Done():
		return engine.Result{}, ctx.Err()
	case <-e.quit:
		return engine.Result{}, ErrClosed
	}
	// Whatever ends this call, the scheduler drops the request at its next
	// step, and the slot is free at once.
	defer r.cancelled.Store(true)

	res := engine.Result{InputTokens: len(ids)}
	var all strings.Builder
	done := func(err error) (engine.Result, error) {
		res.Text = all.String()
		return res, err
	}
	// A completion continues the prompt's text, so its first piece keeps
	// its leading space unless the prompt is only control tokens (BOS).
	text := e.tok.NewStreamDecoder()
	text.KeepLeadingSpace = !isChat && !e.tok.IsSpecial(ids[len(ids)-1])
	stop := &stopper{stops: stops}
	send := func(ts []engine.Token) error {
		for _, t := range ts {
			all.WriteString(t.Text)
			if req.Logprobs {
				res.Tokens = append(res.Tokens, t)
			}
			if err := emit(t); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		var ev event
		select {
		case ev = <-r.events:
		case <-ctx.Done():
			return done(ctx.Err())
		case <-e.quit:
			return done(ErrClosed)
		}
		if ev.err != nil {
			return done(ev.err)
		}
		if ev.stop == engine.StopEnd {
			res.StopReason = engine.StopEnd
			return done(send(stop.flush(text.Flush())))
		}
		res.OutputTokens++
		ts, matched := stop.push(engine.Token{ID: ev.id, Text: text.Next(ev.id), Logprob: ev.logprob})
		if err := send(ts); err != nil {
			return done(err)
		}
		if matched {
			res.StopReason = engine.StopSequence
			return done(nil)
		}
		if ev.stop != "" {
			res.StopReason = ev.stop
			return done(send(stop.flush(text.Flush())))
		}
	}
}

// run is the scheduler loop.
func (e *Engine) run() {
	defer close(e.done)
	var active []*request
	var batch []Seq
	for {
		if len(active) == 0 {
			select {
			case r := <-e.submit:
				active = append(active, r)
			case <-e.quit:
				return
			}
		}
	drain:
		for {
			select {
			case r := <-e.submit:
				active = append(active, r)
			case <-e.quit:
				return
			default:
				break drain
			}
		}
		active = slices.DeleteFunc(active, func(r *request) bool { return r.cancelled.Load() })
		if len(active) == 0 {
			continue
		}

		// One prefill chunk per step at most, so decoding sequences keep
		// their pace while a long prompt is read.
		batch = batch[:0]
		members := active[:0:0]
		prefilling := false
		for _, r := range active {
			if r.cache == nil {
				r.cache = e.model.NewCache(len(r.prompt) + r.maxTokens)
				r.logits = make([]float32, e.model.Config.Vocab)
			}
			if r.fed < len(r.prompt) {
				if prefilling {
					continue
				}
				prefilling = true
				n := min(len(r.prompt)-r.fed, e.model.Chunk)
				s := Seq{Cache: r.cache, Tokens: r.prompt[r.fed : r.fed+n]}
				r.fed += n
				if r.fed == len(r.prompt) {
					s.Logits = r.logits
				}
				batch = append(batch, s)
			} else {
				batch = append(batch, Seq{Cache: r.cache, Tokens: []int{r.last}, Logits: r.logits})
			}
			members = append(members, r)
		}
		e.steps.Add(1)
		e.seqSteps.Add(uint64(len(batch)))
		if int64(len(batch)) > e.maxBatch.Load() {
			e.maxBatch.Store(int64(len(batch)))
		}
		if err := e.model.ForwardBatch(batch); err != nil {
			e.log.Error("forward pass failed", "err", err)
			for _, r := range members {
				r.events <- event{err: fmt.Errorf("llm: forward pass: %w", err)}
				r.cancelled.Store(true)
			}
			continue
		}
		// Sample (and score) every sequence in parallel on the model's
		// workers: each request has its own sampler and logits.
		evs := make([]event, len(members))
		pool := e.model.pool
		pool.parallel(func(w int) {
			for i := w; i < len(members); i += pool.n {
				r := members[i]
				if batch[i].Logits == nil {
					continue
				}
				id := r.sampler.sample(r.logits)
				evs[i] = event{id: id}
				if r.logprobs {
					evs[i].logprob = logprob(r.logits, id)
				}
			}
		})
		for i, r := range members {
			if batch[i].Logits == nil {
				continue
			}
			ev := evs[i]
			if slices.Contains(r.end, ev.id) {
				r.events <- event{stop: engine.StopEnd}
				r.cancelled.Store(true)
				continue
			}
			id := ev.id
			r.out++
			r.last = id
			if r.out >= r.maxTokens {
				ev.stop = engine.StopLength
				r.cancelled.Store(true)
			}
			r.events <- ev
		}
	}
}
