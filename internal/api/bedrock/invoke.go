package bedrock

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"strata/internal/apierr"
	"strata/internal/engine"
	"strata/internal/iam"
	"strata/internal/runtime"
)

// maxGenTokens bounds max_tokens / max_gen_len as Bedrock does for
// Mistral 7B (8192).
const maxGenTokens = 8192

// bodyFormat is an InvokeModel body dialect.
type bodyFormat int

const (
	formatMistral    bodyFormat = iota // {"prompt","max_tokens",...} -> {"outputs":[...]}
	formatCompletion                   // Bedrock completion: {"prompt","max_gen_len"} -> {"generation",...}
	formatOpenAIText                   // {"prompt","max_tokens"} -> {"choices":[{"text"}]} (Llama family)
	formatOpenAIChat                   // {"messages",...} -> {"choices":[{"message"}]}
)

// invokeBody is the union of the InvokeModel body fields strata accepts.
type invokeBody struct {
	Prompt      *string         `json:"prompt"`
	Messages    json.RawMessage `json:"messages"`
	MaxTokens   *int            `json:"max_tokens"`
	MaxGenLen   *int            `json:"max_gen_len"`
	Temperature *float64        `json:"temperature"`
	TopP        *float64        `json:"top_p"`
	TopK        *int            `json:"top_k"`
	Stop        json.RawMessage `json:"stop"`
	Seed        *int64          `json:"seed"`
	Model       string          `json:"model"` // OpenAI formats may name it; ignored
	Logprobs    json.RawMessage `json:"logprobs"`
	N           *int            `json:"n"`
	Stream      *bool           `json:"stream"`
	// GuardrailConfig is amazon-bedrock-guardrailConfig
	// {streamProcessingMode}, read by guardrailStreamMode.
	GuardrailConfig json.RawMessage `json:"amazon-bedrock-guardrailConfig"`
}

// guardrailStreamMode returns the body's
// amazon-bedrock-guardrailConfig.streamProcessingMode ("" when absent).
func guardrailStreamMode(body []byte) string {
	var b struct {
		GC struct {
			StreamProcessingMode string `json:"streamProcessingMode"`
		} `json:"amazon-bedrock-guardrailConfig"`
	}
	json.Unmarshal(body, &b)
	if b.GC.StreamProcessingMode == "" && bytes.Contains(body, []byte(`"amazon-bedrock-guardrailConfig"`)) {
		return "SYNCHRONOUS"
	}
	return b.GC.StreamProcessingMode
}

// parseInvokeBody reads an InvokeModel body for a model of family into an
// invocation. The format follows the body: `messages` is OpenAI chat,
// `max_gen_len` Bedrock completion; a `prompt` is Mistral's native format
// for Mistral-family models and OpenAI completion for Llama-family ones.
func parseInvokeBody(body []byte, family string, inv *runtime.Invocation) (bodyFormat, error) {
	var b invokeBody
	if err := decode(body, &b); err != nil {
		return 0, apierr.New(apierr.Validation, "Malformed input request: %s, please reformat your input and try again.", apierr.From(err).Message)
	}
	var f bodyFormat
	switch {
	case b.Messages != nil:
		f = formatOpenAIChat
		if b.Prompt != nil {
			return 0, apierr.New(apierr.Validation, "Malformed input request: give either prompt or messages, not both")
		}
		var msgs []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(b.Messages, &msgs); err != nil || len(msgs) == 0 {
			return 0, apierr.New(apierr.Validation, "Malformed input request: messages must be a non-empty array of {role, content}")
		}
		for i, m := range msgs {
			text, err := openAIContent(m.Content)
			if err != nil {
				return 0, apierr.New(apierr.Validation, "Malformed input request: messages[%d].content: %v", i, err)
			}
			switch m.Role {
			case "system", "developer":
				inv.System = append(inv.System, text)
			case "user", "assistant":
				inv.Messages = append(inv.Messages, runtime.Message{Role: m.Role, Text: text})
			default:
				return 0, apierr.New(apierr.Validation, "Malformed input request: messages[%d].role %q must be system, user or assistant", i, m.Role)
			}
		}
	case b.Prompt == nil:
		return 0, apierr.New(apierr.Validation, "Malformed input request: #: required key [prompt] not found, please reformat your input and try again.")
	case b.MaxGenLen != nil:
		f = formatCompletion
	case family == "llama" && b.MaxTokens != nil:
		f = formatOpenAIText
	case family == "llama":
		f = formatCompletion
	default:
		f = formatMistral
	}
	if b.Prompt != nil {
		if *b.Prompt == "" {
			return 0, apierr.New(apierr.Validation, "Malformed input request: prompt must not be empty")
		}
		inv.Prompt = *b.Prompt
	}
	if f == formatMistral && b.MaxGenLen != nil {
		return 0, apierr.New(apierr.Validation, "Malformed input request: extraneous key [max_gen_len] is not permitted")
	}
	if f == formatCompletion && b.TopK != nil {
		return 0, apierr.New(apierr.Validation, "Malformed input request: extraneous key [top_k] is not permitted")
	}
	// Defaults: 512 tokens for Mistral 7B, 512 for Llama's max_gen_len.
	inv.MaxTokens = 512
	field := "max_tokens"
	if f == formatCompletion {
		field = "max_gen_len"
		if b.MaxGenLen != nil {
			inv.MaxTokens = *b.MaxGenLen
		}
	} else if b.MaxTokens != nil {
		inv.MaxTokens = *b.MaxTokens
	}
	if inv.MaxTokens < 1 || inv.MaxTokens > maxGenTokens {
		return 0, apierr.New(apierr.Validation, "Malformed input request: #/%s: %d is not in the range 1 to %d, please reformat your input and try again.", field, inv.MaxTokens, maxGenTokens)
	}
	if b.Temperature != nil {
		if *b.Temperature < 0 || *b.Temperature > 2 {
			return 0, apierr.New(apierr.Validation, "Malformed input request: #/temperature: %v is not in the range 0 to 2", *b.Temperature)
		}
		inv.Temperature = *b.Temperature
	} else if f == formatMistral {
		inv.Temperature = 0.5 // Mistral 7B's Bedrock default
	} else {
		inv.Temperature = 0.6
	}
	if b.TopP != nil {
		if *b.TopP < 0 || *b.TopP > 1 {
			return 0, apierr.New(apierr.Validation, "Malformed input request: #/top_p: %v is not in the range 0 to 1", *b.TopP)
		}
		inv.TopP = *b.TopP
	}
	if b.TopK != nil {
		if *b.TopK < 0 || *b.TopK > 200 {
			return 0, apierr.New(apierr.Validation, "Malformed input request: #/top_k: %d is not in the range 0 to 200", *b.TopK)
		}
		inv.TopK = *b.TopK
	}
	inv.Seed = b.Seed
	if b.Stop != nil {
		stop, err := stringOrList(b.Stop)
		if err != nil || len(stop) > 10 {
			return 0, apierr.New(apierr.Validation, "Malformed input request: #/stop must be a string or a list of at most 10 strings")
		}
		inv.Stop = stop
	}
	if b.N != nil && *b.N != 1 {
		return 0, apierr.New(apierr.Validation, "Malformed input request: n must be 1")
	}
	return f, nil
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	err := json.Unmarshal(raw, &many)
	return many, err
}

// openAIContent reads an OpenAI message content: a string or text parts.
func openAIContent(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("must be a string or an array of text parts")
	}
	var buf bytes.Buffer
	for _, p := range parts {
		if p.Type != "text" {
			return "", errors.New("only text parts are supported by this model")
		}
		buf.WriteString(p.Text)
	}
	return buf.String(), nil
}

func stopReason(r engine.StopReason) string {
	if r == engine.StopLength {
		return "length"
	}
	return "stop"
}

// invokeResponse renders a finished invocation in the body format f.
func invokeResponse(f bodyFormat, res *runtime.Result) map[string]any {
	switch f {
	case formatCompletion:
		return map[string]any{"generation": res.Text, "prompt_token_count": res.InputTokens,
			"generation_token_count": res.OutputTokens, "stop_reason": stopReason(res.StopReason)}
	case formatOpenAIText:
		return map[string]any{"id": "cmpl-strata", "object": "text_completion",
			"choices": []any{map[string]any{"index": 0, "text": res.Text, "finish_reason": stopReason(res.StopReason)}},
			"usage":   usageJSON(res)}
	case formatOpenAIChat:
		return map[string]any{"id": "chatcmpl-strata", "object": "chat.completion",
			"choices": []any{map[string]any{"index": 0, "message": map[string]string{"role": "assistant", "content": res.Text},
				"finish_reason": stopReason(res.StopReason)}},
			"usage": usageJSON(res)}
	}
	return map[string]any{"outputs": []any{map[string]any{"text": res.Text, "stop_reason": stopReason(res.StopReason)}}}
}

func usageJSON(res *runtime.Result) map[string]int {
	return map[string]int{"prompt_tokens": res.InputTokens, "completion_tokens": res.OutputTokens, "total_tokens": res.InputTokens + res.OutputTokens}
}

// invocationMetrics is the amazon-bedrock-invocationMetrics object of a
// stream's last chunk.
func invocationMetrics(res *runtime.Result) map[string]any {
	return map[string]any{"inputTokenCount": res.InputTokens, "outputTokenCount": res.OutputTokens,
		"invocationLatency": res.Latency.Milliseconds(), "firstByteLatency": res.FirstToken.Milliseconds()}
}

// streamChunk renders one streamed delta (final=false) or the closing
// chunk in the body format f.
func streamChunk(f bodyFormat, text string, res *runtime.Result, final bool) map[string]any {
	var reason any
	if final {
		reason = stopReason(res.StopReason)
	}
	var c map[string]any
	switch f {
	case formatCompletion:
		c = map[string]any{"generation": text, "prompt_token_count": nil, "generation_token_count": res.OutputTokens, "stop_reason": reason}
	case formatOpenAIText:
		c = map[string]any{"choices": []any{map[string]any{"index": 0, "text": text, "finish_reason": reason}}}
	case formatOpenAIChat:
		c = map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]string{"content": text}, "finish_reason": reason}}}
	default:
		c = map[string]any{"outputs": []any{map[string]any{"text": text, "stop_reason": reason}}}
	}
	if final {
		c["amazon-bedrock-invocationMetrics"] = invocationMetrics(res)
	}
	return c
}

func (h *Handler) newInvocation(ctx context.Context, p *iam.Principal, r *http.Request, action, api string) (*runtime.Invocation, error) {
	t, err := h.Runtime.Resolve(ctx, p, r.PathValue("modelId"))
	if err != nil {
		return nil, err
	}
	return &runtime.Invocation{Principal: p, Target: t, Action: action, API: api}, nil
}

func (h *Handler) invokeModel(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	inv, err := h.newInvocation(ctx, p, r, "bedrock:InvokeModel", "InvokeModel")
	if err != nil {
		return err
	}
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	f, err := parseInvokeBody(body, inv.Target.Family, inv)
	if err != nil {
		return err
	}
	gc, err := h.guardrailHeaders(ctx, p, r, inv, "")
	if err != nil {
		return err
	}
	res, err := h.Runtime.Invoke(ctx, inv, nil)
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(res.InputTokens))
	hd.Set("X-Amzn-Bedrock-Output-Token-Count", strconv.Itoa(res.OutputTokens))
	hd.Set("X-Amzn-Bedrock-Invocation-Latency", strconv.FormatInt(res.Latency.Milliseconds(), 10))
	out := invokeResponse(f, res)
	gc.addInvokeTrace(out, res)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// checkContentType accepts JSON bodies. The Go SDK sends
// application/octet-stream when the caller sets no content type.
func checkContentType(ct string) error {
	mt, _, _ := strings.Cut(ct, ";")
	switch strings.TrimSpace(mt) {
	case "", "application/json", "application/octet-stream", "*/*":
		return nil
	}
	return apierr.New(apierr.Validation, "The content type %q is not supported; use application/json", ct)
}

func (h *Handler) invokeModelWithResponseStream(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	inv, err := h.newInvocation(ctx, p, r, "bedrock:InvokeModelWithResponseStream", "InvokeModelWithResponseStream")
	if err != nil {
		return err
	}
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	f, err := parseInvokeBody(body, inv.Target.Family, inv)
	if err != nil {
		return err
	}
	gc, err := h.guardrailHeaders(ctx, p, r, inv, guardrailStreamMode(body))
	if err != nil {
		return err
	}
	w.Header().Set("X-Amzn-Bedrock-Content-Type", "application/json")
	sw := newStreamWriter(w)
	chunk := func(v any) error {
		b, _ := json.Marshal(v)
		if err := sw.event("chunk", map[string]string{"bytes": base64.StdEncoding.EncodeToString(b)}); err != nil {
			return errors.Join(errClientGone, err)
		}
		return nil
	}
	res, err := h.Runtime.Invoke(ctx, inv, func(text string) error {
		return chunk(streamChunk(f, text, &runtime.Result{}, false))
	})
	if err == nil {
		last := streamChunk(f, "", res, true)
		gc.addInvokeTrace(last, res)
		err = chunk(last)
	}
	if err != nil && !isClientGone(err) && ctx.Err() == nil {
		sw.fail(err, func(err error) { WriteError(w, h.Logger, err) })
	}
	return nil
}
