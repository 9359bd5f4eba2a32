package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"strata/internal/engine"
	"strata/internal/iam"
	"strata/internal/runtime"
)

// chatRequest is the subset of POST /v1/chat/completions strata reads;
// other fields are ignored, as OpenAI ignores unknown ones.
type chatRequest struct {
	sampling
	Messages            []chatMessage   `json:"messages"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Logprobs            *bool           `json:"logprobs"`
	TopLogprobs         *int            `json:"top_logprobs"`
	Tools               json.RawMessage `json:"tools"`
	Functions           json.RawMessage `json:"functions"`
	ResponseFormat      json.RawMessage `json:"response_format"`
	Audio               json.RawMessage `json:"audio"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// parseChat reads a chat completions body into inv.
func parseChat(body []byte, inv *runtime.Invocation) (*chatRequest, bool, bool, error) {
	var req chatRequest
	if err := decode(body, &req); err != nil {
		return nil, false, false, err
	}
	if req.Model == "" {
		return nil, false, false, invalid("model", "you must provide a model parameter")
	}
	if len(req.Messages) == 0 {
		return nil, false, false, invalid("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	for i, m := range req.Messages {
		param := "messages[" + strconv.Itoa(i) + "]"
		text, err := messageContent(m)
		if err != nil {
			return nil, false, false, invalid(param+".content", "Invalid '%s.content': %v", param, err)
		}
		switch m.Role {
		case "system", "developer":
			inv.System = append(inv.System, text)
		case "user", "assistant":
			inv.Messages = append(inv.Messages, runtime.Message{Role: m.Role, Text: text})
		case "":
			return nil, false, false, invalid(param+".role", "Missing required parameter: '%s.role'.", param)
		default:
			return nil, false, false, invalid(param+".role", "Invalid value: '%s'. This model supports the roles 'system', 'developer', 'user' and 'assistant'.", m.Role)
		}
	}
	if len(inv.Messages) == 0 {
		return nil, false, false, invalid("messages", "Invalid 'messages': at least one user message is required.")
	}
	if present(req.Tools) || present(req.Functions) {
		return nil, false, false, invalid("tools", "This model does not support tools or function calling.")
	}
	if present(req.Audio) {
		return nil, false, false, invalid("audio", "This model does not support audio output.")
	}
	if present(req.ResponseFormat) {
		var rf struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(req.ResponseFormat, &rf) != nil || rf.Type != "text" {
			return nil, false, false, invalid("response_format", "Invalid 'response_format': this model supports only {\"type\": \"text\"}.")
		}
	}
	maxTokens, param := req.MaxTokens, "max_tokens"
	if req.MaxCompletionTokens != nil {
		maxTokens, param = req.MaxCompletionTokens, "max_completion_tokens"
	}
	stream, includeUsage, err := req.apply(inv, maxTokens, param, defaultChatTokens)
	if err != nil {
		return nil, false, false, err
	}
	inv.Logprobs = req.Logprobs != nil && *req.Logprobs
	if req.TopLogprobs != nil {
		switch n := *req.TopLogprobs; {
		case !inv.Logprobs:
			return nil, false, false, invalid("top_logprobs", "Invalid 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.")
		case n < 0 || n > 20:
			return nil, false, false, invalid("top_logprobs", "Invalid 'top_logprobs': %d is not in the range 0 to 20.", n)
		case n > 0:
			return nil, false, false, invalid("top_logprobs", "Invalid 'top_logprobs': this model returns only the sampled token's logprob; set top_logprobs to 0 or leave it out.")
		}
	}
	return &req, stream, includeUsage, nil
}

// messageContent reads a message's content: a string, text parts, or null
// (an assistant turn with no text).
func messageContent(m chatMessage) (string, error) {
	if !present(m.Content) {
		if m.Role == "assistant" {
			return "", nil
		}
		return "", errors.New("content is required")
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type    string `json:"type"`
		Text    string `json:"text"`
		Refusal string `json:"refusal"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", errors.New("expected a string or an array of content parts")
	}
	var b strings.Builder
	for _, p := range parts {
		switch p.Type {
		case "text":
			b.WriteString(p.Text)
		case "refusal":
			b.WriteString(p.Refusal)
		default:
			return "", errors.New("this model supports only text content parts, not '" + p.Type + "'")
		}
	}
	return b.String(), nil
}

func (h *Handler) chatCompletions(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	inv := &runtime.Invocation{}
	req, stream, includeUsage, err := parseChat(body, inv)
	if err != nil {
		return err
	}
	if err := h.resolve(ctx, p, inv, req.Model, stream, "chat.completions"); err != nil {
		return err
	}
	f := &chatFormat{id: newID("chatcmpl-"), created: h.Now().Unix(), model: req.Model, logprobs: inv.Logprobs, includeUsage: includeUsage}
	return h.run(ctx, w, generation{inv: inv, f: f, stream: stream, includeUsage: includeUsage})
}

// finishReason maps an engine stop to OpenAI's finish_reason.
func finishReason(r engine.StopReason) string {
	if r == engine.StopLength {
		return "length"
	}
	return "stop"
}

// chatFormat renders chat.completion and chat.completion.chunk objects.
type chatFormat struct {
	id           string
	created      int64
	model        string
	logprobs     bool
	includeUsage bool
}

type chatLogprob struct {
	Token       string  `json:"token"`
	Logprob     float64 `json:"logprob"`
	Bytes       []int   `json:"bytes"`
	TopLogprobs []any   `json:"top_logprobs"`
}

func (f *chatFormat) logprobsJSON(lp []tokenLogprob) any {
	if !f.logprobs {
		return nil
	}
	content := make([]chatLogprob, len(lp))
	for i, t := range lp {
		b := make([]int, len(t.Token))
		for j := range len(t.Token) {
			b[j] = int(t.Token[j])
		}
		content[i] = chatLogprob{Token: t.Token, Logprob: t.Logprob, Bytes: b, TopLogprobs: []any{}}
	}
	return map[string]any{"content": content, "refusal": nil}
}

func (f *chatFormat) chunk(choices []any) map[string]any {
	c := map[string]any{"id": f.id, "object": "chat.completion.chunk", "created": f.created, "model": f.model,
		"system_fingerprint": nil, "choices": choices}
	if f.includeUsage {
		c["usage"] = nil
	}
	return c
}

func (f *chatFormat) first() any {
	return f.chunk([]any{map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""},
		"logprobs": nil, "finish_reason": nil}})
}

func (f *chatFormat) delta(text string) any {
	return f.chunk([]any{map[string]any{"index": 0, "delta": map[string]any{"content": text},
		"logprobs": nil, "finish_reason": nil}})
}

func (f *chatFormat) finish(res *runtime.Result, lp []tokenLogprob) any {
	return f.chunk([]any{map[string]any{"index": 0, "delta": map[string]any{},
		"logprobs": f.logprobsJSON(lp), "finish_reason": finishReason(res.StopReason)}})
}

func (f *chatFormat) usage(res *runtime.Result) any {
	c := f.chunk([]any{})
	c["usage"] = usageJSON(res)
	return c
}

func (f *chatFormat) whole(res *runtime.Result, lp []tokenLogprob) any {
	return map[string]any{
		"id": f.id, "object": "chat.completion", "created": f.created, "model": f.model, "system_fingerprint": nil,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": res.Text, "refusal": nil},
			"logprobs":      f.logprobsJSON(lp),
			"finish_reason": finishReason(res.StopReason),
		}},
		"usage": usageJSON(res),
	}
}
