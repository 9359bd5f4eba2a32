package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/runtime"
)

// maxGenTokens bounds max_tokens, as Bedrock does for imported Mistral
// models; the engine also stops at the model's context window.
const maxGenTokens = 8192

// Default max tokens: OpenAI's legacy completions default to 16; chat
// completions have no OpenAI default below the context, so strata takes a
// bound that keeps quota estimates sane.
const (
	defaultCompletionTokens = 16
	defaultChatTokens       = 1024
)

// maxStop is how many stop sequences OpenAI accepts.
const maxStop = 4

// sampling holds the parameters chat and text completions share.
type sampling struct {
	Model            string          `json:"model"`
	MaxTokens        *int            `json:"max_tokens"`
	Temperature      *float64        `json:"temperature"`
	TopP             *float64        `json:"top_p"`
	Seed             *int64          `json:"seed"`
	Stop             json.RawMessage `json:"stop"`
	N                *int            `json:"n"`
	Stream           *bool           `json:"stream"`
	StreamOptions    json.RawMessage `json:"stream_options"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	PresencePenalty  *float64        `json:"presence_penalty"`
}

// present reports whether a raw JSON field was given and is not null.
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// apply checks the shared parameters and sets them on inv. maxTokens is
// the max_tokens value to use (max_completion_tokens for chat), under the
// name param.
func (s *sampling) apply(inv *runtime.Invocation, maxTokens *int, param string, def int) (stream, includeUsage bool, err error) {
	inv.MaxTokens = def
	if maxTokens != nil {
		switch n := *maxTokens; {
		case n < 1:
			return false, false, invalid(param, "Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", param, n)
		case n > maxGenTokens:
			return false, false, invalid(param, "%s is too large: %d. This model supports at most %d completion tokens.", param, n, maxGenTokens)
		}
		inv.MaxTokens = *maxTokens
	}
	// OpenAI's defaults: temperature 1, top_p 1 (off).
	inv.Temperature = 1
	if s.Temperature != nil {
		if t := *s.Temperature; t < 0 || t > 2 {
			return false, false, invalid("temperature", "Invalid 'temperature': %v is not in the range 0 to 2.", t)
		}
		inv.Temperature = *s.Temperature
	}
	if s.TopP != nil {
		if p := *s.TopP; p < 0 || p > 1 {
			return false, false, invalid("top_p", "Invalid 'top_p': %v is not in the range 0 to 1.", p)
		}
		inv.TopP = *s.TopP
	}
	for _, pen := range []struct {
		name string
		v    *float64
	}{{"frequency_penalty", s.FrequencyPenalty}, {"presence_penalty", s.PresencePenalty}} {
		if pen.v != nil && (*pen.v < -2 || *pen.v > 2) {
			return false, false, invalid(pen.name, "Invalid '%s': %v is not in the range -2 to 2.", pen.name, *pen.v)
		}
	}
	inv.Seed = s.Seed
	if present(s.Stop) {
		stop, err := stringOrList(s.Stop)
		if err != nil {
			return false, false, invalid("stop", "Invalid 'stop': expected a string or an array of strings.")
		}
		if len(stop) > maxStop {
			return false, false, invalid("stop", "Invalid 'stop': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", maxStop, len(stop))
		}
		for _, s := range stop {
			if s != "" {
				inv.Stop = append(inv.Stop, s)
			}
		}
	}
	if s.N != nil && *s.N != 1 {
		return false, false, invalid("n", "Invalid 'n': this model supports only n=1, got %d.", *s.N)
	}
	stream = s.Stream != nil && *s.Stream
	if present(s.StreamOptions) {
		if !stream {
			return false, false, invalid("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		}
		var so struct {
			IncludeUsage *bool `json:"include_usage"`
		}
		if err := json.Unmarshal(s.StreamOptions, &so); err != nil {
			return false, false, invalid("stream_options", "Invalid 'stream_options': expected an object.")
		}
		includeUsage = so.IncludeUsage != nil && *so.IncludeUsage
	}
	return stream, includeUsage, nil
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

// resolve finds model for p and completes inv: principal, target, IAM
// action (InvokeModel, or InvokeModelWithResponseStream when streaming,
// so Bedrock policies apply unchanged) and API label. An unknown model is
// OpenAI's 404 model_not_found.
func (h *Handler) resolve(ctx context.Context, p *iam.Principal, inv *runtime.Invocation, model string, stream bool, api string) error {
	if model == "" {
		return invalid("model", "you must provide a model parameter")
	}
	t, err := h.Runtime.Resolve(ctx, p, model)
	if e, ok := errors.AsType[*apierr.Error](err); ok && e.Kind == apierr.NotFound {
		return &Error{Status: http.StatusNotFound, Type: typeInvalidRequest, Param: "model", Code: "model_not_found",
			Message: "The model `" + model + "` does not exist or you do not have access to it.", Err: err}
	}
	if err != nil {
		return err
	}
	inv.Principal, inv.Target, inv.API = p, t, api
	inv.Action = "bedrock:InvokeModel"
	if stream {
		inv.Action = "bedrock:InvokeModelWithResponseStream"
	}
	return nil
}
