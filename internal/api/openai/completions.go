package openai

import (
	"context"
	"encoding/json"
	"net/http"

	"strata/internal/iam"
	"strata/internal/runtime"
)

// completionRequest is the subset of POST /v1/completions strata reads.
type completionRequest struct {
	sampling
	Prompt   json.RawMessage `json:"prompt"`
	Logprobs *int            `json:"logprobs"`
	Echo     *bool           `json:"echo"`
	BestOf   *int            `json:"best_of"`
	Suffix   *string         `json:"suffix"`
}

// parseCompletion reads a completions body into inv.
func parseCompletion(body []byte, inv *runtime.Invocation) (*completionRequest, bool, bool, error) {
	var req completionRequest
	if err := decode(body, &req); err != nil {
		return nil, false, false, err
	}
	if req.Model == "" {
		return nil, false, false, invalid("model", "you must provide a model parameter")
	}
	if !present(req.Prompt) {
		return nil, false, false, invalid("prompt", "Missing required parameter: 'prompt'.")
	}
	prompts, err := stringOrList(req.Prompt)
	if err != nil {
		return nil, false, false, invalid("prompt", "Invalid 'prompt': this model takes a string prompt (or a list of one string), not token ids.")
	}
	if len(prompts) != 1 {
		return nil, false, false, invalid("prompt", "Invalid 'prompt': this model takes one prompt per request, got %d.", len(prompts))
	}
	if prompts[0] == "" {
		return nil, false, false, invalid("prompt", "Invalid 'prompt': the prompt must not be empty.")
	}
	inv.Prompt = prompts[0]
	if req.Echo != nil && *req.Echo {
		return nil, false, false, invalid("echo", "Invalid 'echo': echoing the prompt is not supported.")
	}
	if req.BestOf != nil && *req.BestOf != 1 {
		return nil, false, false, invalid("best_of", "Invalid 'best_of': this model supports only best_of=1.")
	}
	if req.Suffix != nil && *req.Suffix != "" {
		return nil, false, false, invalid("suffix", "Invalid 'suffix': this model does not support insertion.")
	}
	stream, includeUsage, err := req.apply(inv, req.MaxTokens, "max_tokens", defaultCompletionTokens)
	if err != nil {
		return nil, false, false, err
	}
	if req.Logprobs != nil {
		switch n := *req.Logprobs; {
		case n < 0 || n > 5:
			return nil, false, false, invalid("logprobs", "Invalid 'logprobs': %d is not in the range 0 to 5.", n)
		case n > 0:
			return nil, false, false, invalid("logprobs", "Invalid 'logprobs': this model returns only the sampled token's logprob; use logprobs=0.")
		}
		inv.Logprobs = true
	}
	return &req, stream, includeUsage, nil
}

func (h *Handler) completions(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	inv := &runtime.Invocation{}
	req, stream, includeUsage, err := parseCompletion(body, inv)
	if err != nil {
		return err
	}
	if err := h.resolve(ctx, p, inv, req.Model, stream, "completions"); err != nil {
		return err
	}
	f := &completionFormat{id: newID("cmpl-"), created: h.Now().Unix(), model: req.Model, logprobs: inv.Logprobs, includeUsage: includeUsage}
	return h.run(ctx, w, generation{inv: inv, f: f, stream: stream, includeUsage: includeUsage})
}

// completionFormat renders text_completion objects, streamed or whole.
type completionFormat struct {
	id           string
	created      int64
	model        string
	logprobs     bool
	includeUsage bool
}

// logprobsJSON is the legacy completions logprobs object.
func (f *completionFormat) logprobsJSON(lp []tokenLogprob) any {
	if !f.logprobs {
		return nil
	}
	tokens := make([]string, len(lp))
	values := make([]float64, len(lp))
	offsets := make([]int, len(lp))
	off := 0
	for i, t := range lp {
		tokens[i], values[i], offsets[i] = t.Token, t.Logprob, off
		off += len(t.Token)
	}
	return map[string]any{"tokens": tokens, "token_logprobs": values, "top_logprobs": nil, "text_offset": offsets}
}

func (f *completionFormat) object(choices []any) map[string]any {
	c := map[string]any{"id": f.id, "object": "text_completion", "created": f.created, "model": f.model,
		"system_fingerprint": nil, "choices": choices}
	if f.includeUsage {
		c["usage"] = nil
	}
	return c
}

func (f *completionFormat) first() any { return nil }

func (f *completionFormat) delta(text string) any {
	return f.object([]any{map[string]any{"index": 0, "text": text, "logprobs": nil, "finish_reason": nil}})
}

func (f *completionFormat) finish(res *runtime.Result, lp []tokenLogprob) any {
	return f.object([]any{map[string]any{"index": 0, "text": "", "logprobs": f.logprobsJSON(lp),
		"finish_reason": finishReason(res.StopReason)}})
}

func (f *completionFormat) usage(res *runtime.Result) any {
	c := f.object([]any{})
	c["usage"] = usageJSON(res)
	return c
}

func (f *completionFormat) whole(res *runtime.Result, lp []tokenLogprob) any {
	c := f.object([]any{map[string]any{"index": 0, "text": res.Text, "logprobs": f.logprobsJSON(lp),
		"finish_reason": finishReason(res.StopReason)}})
	c["usage"] = usageJSON(res)
	return c
}
