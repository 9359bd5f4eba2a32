// Package container serves one model with the SageMaker-style model
// container contract of the guides: GET /ping answers 200 once the model is
// loaded, and POST /invocations takes {"prompt", "max_tokens"} and answers
// {"response"}. strata can so be the custom endpoint of a top tier. Requests
// pass through the same runtime pipeline (guard in, engine, guard out) as
// the Bedrock and OpenAI APIs; authentication is the endpoint's job.
package container

import (
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/runtime"
)

// Handler serves /ping and /invocations for one target.
type Handler struct {
	Runtime   *runtime.Runtime // non-nil
	Target    *runtime.Target  // non-nil; its Engine is loaded
	Principal *iam.Principal   // the caller every invocation runs as
	Logger    *slog.Logger     // nil means discard
}

// maxBody bounds a request body.
const maxBody = 4 << 20

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /invocations", h.invocations)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

var statusOf = map[apierr.Kind]int{
	apierr.Validation: 400, apierr.AccessDenied: 403, apierr.NotFound: 404, apierr.Throttling: 429,
	apierr.ModelNotReady: 503, apierr.ServiceUnavailable: 503, apierr.ModelTimeout: 504,
}

func (h *Handler) invocations(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "This predictor only supports application/json input"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "the request body is too large"})
		return
	}
	var in struct {
		Prompt      string   `json:"prompt"`
		MaxTokens   *int     `json:"max_tokens"`
		Temperature *float64 `json:"temperature"`
		TopP        *float64 `json:"top_p"`
		Stop        []string `json:"stop"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body is not valid JSON"})
		return
	}
	if in.Prompt == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "prompt is required"})
		return
	}
	inv := &runtime.Invocation{
		Principal: h.Principal, Target: h.Target, Action: "bedrock:InvokeModel", API: "invocations",
		Prompt: in.Prompt, MaxTokens: 512, Temperature: 0.7, TopP: 0.9, Stop: in.Stop,
	}
	if in.MaxTokens != nil {
		inv.MaxTokens = *in.MaxTokens
	}
	if in.Temperature != nil {
		inv.Temperature = *in.Temperature
	}
	if in.TopP != nil {
		inv.TopP = *in.TopP
	}
	if inv.MaxTokens < 1 || inv.MaxTokens > 8192 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "max_tokens must be from 1 to 8192"})
		return
	}
	res, err := h.Runtime.Invoke(r.Context(), inv, nil)
	if err != nil {
		e := apierr.From(err)
		st, ok := statusOf[e.Kind]
		if !ok {
			st = http.StatusInternalServerError
			if h.Logger != nil {
				h.Logger.Error("invocation failed", "err", err)
			}
		}
		writeJSON(w, st, map[string]string{"error": e.Message})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"response": res.Text,
		"usage": map[string]int{"input_tokens": res.InputTokens, "output_tokens": res.OutputTokens}})
}
