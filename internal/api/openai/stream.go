package openai

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"strata/internal/runtime"
)

// sseWriter writes a text/event-stream response: one flushed
// "data: <json>\n\n" event per chunk, "data: [DONE]\n\n" at the end.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func newSSEWriter(w http.ResponseWriter) *sseWriter {
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

func (s *sseWriter) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
}

// raw writes one event whose data is b and flushes it.
func (s *sseWriter) raw(b []byte) error {
	s.start()
	buf := make([]byte, 0, len(b)+8)
	buf = append(buf, "data: "...)
	buf = append(buf, b...)
	buf = append(buf, "\n\n"...)
	if _, err := s.w.Write(buf); err != nil {
		return errors.Join(errClientGone, err)
	}
	if err := s.rc.Flush(); err != nil {
		return errors.Join(errClientGone, err)
	}
	return nil
}

func (s *sseWriter) event(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.raw(b)
}

// errClientGone marks a client that went away mid-stream.
var errClientGone = errors.New("client disconnected")

// format renders one API's responses (chat or text completions).
type format interface {
	// first is the chunk sent before the first text (chat's role delta), or nil.
	first() any
	// delta is a streamed chunk of text.
	delta(text string) any
	// finish is the streamed chunk carrying finish_reason (and logprobs).
	finish(res *runtime.Result, lp []tokenLogprob) any
	// usage is the chunk of stream_options.include_usage: no choices.
	usage(res *runtime.Result) any
	// whole is the non-streamed response.
	whole(res *runtime.Result, lp []tokenLogprob) any
}

// generation is one validated request, ready to run.
type generation struct {
	inv          *runtime.Invocation
	f            format
	stream       bool
	includeUsage bool
}

// run invokes the runtime and writes the response: JSON, or SSE when
// streaming. Errors found before the first byte is written are returned
// (and written by op with their status); later ones end the stream with a
// data: {"error":{...}} event. A client that goes away cancels the request
// context, which stops generation and frees the engine slot at once.
func (h *Handler) run(ctx context.Context, w http.ResponseWriter, g generation) error {
	var pieces []string
	if !g.stream {
		res, err := h.Runtime.Invoke(ctx, g.inv, func(text string) error {
			pieces = append(pieces, text)
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(w, g.f.whole(res, alignLogprobs(g.inv.Logprobs, pieces, res.Logprobs)))
		return nil
	}
	sw := newSSEWriter(w)
	begin := func() error {
		if sw.started {
			return nil
		}
		if c := g.f.first(); c != nil {
			return sw.event(c)
		}
		sw.start()
		return nil
	}
	res, err := h.Runtime.Invoke(ctx, g.inv, func(text string) error {
		if err := begin(); err != nil {
			return err
		}
		pieces = append(pieces, text)
		return sw.event(g.f.delta(text))
	})
	if err == nil {
		err = begin()
	}
	if err == nil {
		err = sw.event(g.f.finish(res, alignLogprobs(g.inv.Logprobs, pieces, res.Logprobs)))
	}
	if err == nil && g.includeUsage {
		err = sw.event(g.f.usage(res))
	}
	if err == nil {
		err = sw.raw([]byte("[DONE]"))
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errClientGone) || ctx.Err() != nil:
		return nil // nobody is listening
	case !sw.started:
		return err
	}
	writeStreamError(sw, h.Logger, err)
	return nil
}

// writeStreamError ends a started stream with an error event, which the
// openai clients raise as an APIError.
func writeStreamError(sw *sseWriter, log *slog.Logger, err error) {
	e := wireError(err)
	if e.Status >= 500 && log != nil {
		log.Error("stream failed", "status", e.Status, "err", err)
	}
	sw.raw(errorBody(e))
}

// tokenLogprob is one generated token's text and log probability.
type tokenLogprob struct {
	Token   string
	Logprob float64
}

// alignLogprobs pairs the runtime's per-token log probabilities with the
// texts the runtime emitted. The runtime emits one masked piece per token
// that released text, so the pairing is exact unless the output guard held
// text back across tokens (a run of digits that might be a card number)
// or a token released nothing. Then pieces are paired with tokens in
// order, the last token takes any extra pieces and tokens past the last
// piece get "", so the token texts still join to the output text.
func alignLogprobs(want bool, pieces []string, lps []float64) []tokenLogprob {
	if !want {
		return nil
	}
	out := make([]tokenLogprob, len(lps))
	for i, lp := range lps {
		out[i].Logprob = lp
		if i < len(pieces) {
			out[i].Token = pieces[i]
		}
	}
	if len(pieces) > len(lps) && len(lps) > 0 {
		for _, p := range pieces[len(lps):] {
			out[len(lps)-1].Token += p
		}
	}
	return out
}

func usageJSON(res *runtime.Result) map[string]int {
	return map[string]int{"prompt_tokens": res.InputTokens, "completion_tokens": res.OutputTokens,
		"total_tokens": res.InputTokens + res.OutputTokens}
}
