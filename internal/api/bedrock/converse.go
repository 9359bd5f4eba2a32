package bedrock

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"strata/internal/apierr"
	"strata/internal/engine"
	"strata/internal/iam"
	"strata/internal/runtime"
)

type contentBlock struct {
	Text         *string         `json:"text,omitempty"`
	Image        json.RawMessage `json:"image,omitempty"`
	Document     json.RawMessage `json:"document,omitempty"`
	Video        json.RawMessage `json:"video,omitempty"`
	ToolUse      json.RawMessage `json:"toolUse,omitempty"`
	ToolResult   json.RawMessage `json:"toolResult,omitempty"`
	GuardContent json.RawMessage `json:"guardContent,omitempty"`
	CachePoint   json.RawMessage `json:"cachePoint,omitempty"`
	Reasoning    json.RawMessage `json:"reasoningContent,omitempty"`
}

type converseRequest struct {
	Messages []struct {
		Role    string         `json:"role"`
		Content []contentBlock `json:"content"`
	} `json:"messages"`
	System          []contentBlock `json:"system"`
	InferenceConfig *struct {
		MaxTokens     *int     `json:"maxTokens"`
		Temperature   *float64 `json:"temperature"`
		TopP          *float64 `json:"topP"`
		StopSequences []string `json:"stopSequences"`
	} `json:"inferenceConfig"`
	GuardrailConfig                   *guardrailConfig  `json:"guardrailConfig"`
	ToolConfig                        json.RawMessage   `json:"toolConfig"`
	AdditionalModelRequestFields      map[string]any    `json:"additionalModelRequestFields"`
	AdditionalModelResponseFieldPaths []string          `json:"additionalModelResponseFieldPaths"`
	PromptVariables                   json.RawMessage   `json:"promptVariables"`
	RequestMetadata                   map[string]string `json:"requestMetadata"`
	PerformanceConfig                 json.RawMessage   `json:"performanceConfig"`
	ServiceTier                       json.RawMessage   `json:"serviceTier"`
	OutputConfig                      json.RawMessage   `json:"outputConfig"`
}

// blockText returns the text of a content block, refusing kinds the
// built-in models cannot take; guarded is set for guardContent blocks.
func blockText(where string, b contentBlock) (text string, guarded bool, err error) {
	if b.Text != nil {
		return *b.Text, false, nil
	}
	if b.CachePoint != nil {
		return "", false, nil
	}
	if b.GuardContent != nil {
		var g struct {
			Text struct {
				Text       string   `json:"text"`
				Qualifiers []string `json:"qualifiers"`
			} `json:"text"`
		}
		if err := json.Unmarshal(b.GuardContent, &g); err != nil {
			return "", false, apierr.New(apierr.Validation, "%s.guardContent is malformed", where)
		}
		return g.Text.Text, true, nil
	}
	return "", false, apierr.New(apierr.Validation, "%s: this model supports only text content blocks", where)
}

// parseConverse fills inv from a Converse request.
func parseConverse(body []byte, inv *runtime.Invocation) (*converseRequest, error) {
	var req converseRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if len(req.Messages) == 0 {
		return nil, apierr.New(apierr.Validation, "A conversation must start with a user message. Try again with a conversation that starts with a user message.")
	}
	if req.ToolConfig != nil {
		return nil, apierr.New(apierr.Validation, "This model doesn't support tool use.")
	}
	var parts []runtime.GuardedPart
	for i, s := range req.System {
		t, guarded, err := blockText("system."+strconv.Itoa(i), s)
		if err != nil {
			return nil, err
		}
		if t != "" {
			if guarded {
				parts = append(parts, runtime.GuardedPart{System: true, Index: len(inv.System), End: len(t)})
			}
			inv.System = append(inv.System, t)
		}
	}
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, apierr.New(apierr.Validation, "messages.%d.role must be user or assistant", i)
		}
		if i == 0 && m.Role != "user" {
			return nil, apierr.New(apierr.Validation, "A conversation must start with a user message. Try again with a conversation that starts with a user message.")
		}
		if i > 0 && m.Role == req.Messages[i-1].Role {
			return nil, apierr.New(apierr.Validation, "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.")
		}
		var text string
		for j, b := range m.Content {
			t, guarded, err := blockText("messages."+strconv.Itoa(i)+".content."+strconv.Itoa(j), b)
			if err != nil {
				return nil, err
			}
			if guarded {
				parts = append(parts, runtime.GuardedPart{Index: len(inv.Messages), Start: len(text), End: len(text) + len(t)})
			}
			text += t
		}
		inv.Messages = append(inv.Messages, runtime.Message{Role: m.Role, Text: text})
	}
	// With guardContent blocks, the guardrail evaluates only them.
	inv.GuardrailParts = parts
	inv.MaxTokens, inv.Temperature = 512, 0.5
	if ic := req.InferenceConfig; ic != nil {
		if ic.MaxTokens != nil {
			if *ic.MaxTokens < 1 || *ic.MaxTokens > maxGenTokens {
				return nil, apierr.New(apierr.Validation, "inferenceConfig.maxTokens %d is not in the range 1 to %d", *ic.MaxTokens, maxGenTokens)
			}
			inv.MaxTokens = *ic.MaxTokens
		}
		if ic.Temperature != nil {
			if *ic.Temperature < 0 || *ic.Temperature > 1 {
				return nil, apierr.New(apierr.Validation, "inferenceConfig.temperature %v is not in the range 0 to 1", *ic.Temperature)
			}
			inv.Temperature = *ic.Temperature
		}
		if ic.TopP != nil {
			if *ic.TopP < 0 || *ic.TopP > 1 {
				return nil, apierr.New(apierr.Validation, "inferenceConfig.topP %v is not in the range 0 to 1", *ic.TopP)
			}
			inv.TopP = *ic.TopP
		}
		if len(ic.StopSequences) > 10 {
			return nil, apierr.New(apierr.Validation, "inferenceConfig.stopSequences has more than 10 entries")
		}
		inv.Stop = ic.StopSequences
	}
	if k, ok := req.AdditionalModelRequestFields["top_k"]; ok {
		f, ok := k.(float64)
		if !ok || f < 0 || f > 200 || f != float64(int(f)) {
			return nil, apierr.New(apierr.Validation, "additionalModelRequestFields.top_k must be an integer from 0 to 200")
		}
		inv.TopK = int(f)
	}
	return &req, nil
}

// converseStopReason maps an engine stop to Converse's stopReason.
func converseStopReason(r engine.StopReason) string {
	switch r {
	case engine.StopLength:
		return "max_tokens"
	case engine.StopSequence:
		return "stop_sequence"
	case runtime.StopGuardrail:
		return "guardrail_intervened"
	}
	return "end_turn"
}

func converseUsage(res *runtime.Result) map[string]int {
	return map[string]int{"inputTokens": res.InputTokens, "outputTokens": res.OutputTokens, "totalTokens": res.InputTokens + res.OutputTokens}
}

func (h *Handler) converse(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	inv, err := h.newInvocation(ctx, p, r, "bedrock:InvokeModel", "Converse")
	if err != nil {
		return err
	}
	req, err := parseConverse(body, inv)
	if err != nil {
		return err
	}
	gc, err := h.useGuardrail(ctx, p, inv, req.GuardrailConfig, false)
	if err != nil {
		return err
	}
	res, err := h.Runtime.Invoke(ctx, inv, nil)
	if err != nil {
		return err
	}
	out := map[string]any{
		"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": []any{map[string]string{"text": res.Text}}}},
		"stopReason": converseStopReason(res.StopReason),
		"usage":      converseUsage(res),
		"metrics":    map[string]int64{"latencyMs": res.Latency.Milliseconds()},
	}
	if t := gc.trace(res); t != nil {
		out["trace"] = map[string]any{"guardrail": t}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) converseStream(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	inv, err := h.newInvocation(ctx, p, r, "bedrock:InvokeModelWithResponseStream", "ConverseStream")
	if err != nil {
		return err
	}
	req, err := parseConverse(body, inv)
	if err != nil {
		return err
	}
	gc, err := h.useGuardrail(ctx, p, inv, req.GuardrailConfig, true)
	if err != nil {
		return err
	}
	sw := newStreamWriter(w)
	send := func(typ string, v any) error {
		if err := sw.event(typ, v); err != nil {
			return errors.Join(errClientGone, err)
		}
		return nil
	}
	started := false
	begin := func() error {
		if started {
			return nil
		}
		started = true
		return send("messageStart", map[string]string{"role": "assistant"})
	}
	res, err := h.Runtime.Invoke(ctx, inv, func(text string) error {
		if err := begin(); err != nil {
			return err
		}
		return send("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]string{"text": text}})
	})
	if err == nil {
		err = begin()
	}
	if err == nil {
		err = send("contentBlockStop", map[string]int{"contentBlockIndex": 0})
	}
	if err == nil {
		err = send("messageStop", map[string]string{"stopReason": converseStopReason(res.StopReason)})
	}
	if err == nil {
		md := map[string]any{"usage": converseUsage(res), "metrics": map[string]int64{"latencyMs": res.Latency.Milliseconds()}}
		if t := gc.trace(res); t != nil {
			md["trace"] = map[string]any{"guardrail": t}
		}
		err = send("metadata", md)
	}
	if err != nil && !isClientGone(err) && ctx.Err() == nil {
		sw.fail(err, func(err error) { WriteError(w, h.Logger, err) })
	}
	return nil
}

func (h *Handler) countTokens(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	var in struct {
		Input *struct {
			InvokeModel *struct {
				Body string `json:"body"`
			} `json:"invokeModel"`
			Converse json.RawMessage `json:"converse"`
		} `json:"input"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	if in.Input == nil || (in.Input.InvokeModel == nil) == (in.Input.Converse == nil) {
		return apierr.New(apierr.Validation, "input must hold exactly one of invokeModel and converse")
	}
	inv, err := h.newInvocation(ctx, p, r, "bedrock:CountTokens", "CountTokens")
	if err != nil {
		return err
	}
	if in.Input.InvokeModel != nil {
		raw, err := base64.StdEncoding.DecodeString(in.Input.InvokeModel.Body)
		if err != nil {
			return apierr.New(apierr.Validation, "input.invokeModel.body is not base64")
		}
		if _, err := parseInvokeBody(raw, inv.Target.Family, inv); err != nil {
			return err
		}
	} else if _, err := parseConverse(in.Input.Converse, inv); err != nil {
		return err
	}
	n, err := h.Runtime.CountTokens(ctx, inv)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"inputTokens": n})
	return nil
}
