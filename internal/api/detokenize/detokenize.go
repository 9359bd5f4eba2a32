// Package detokenize serves POST /strata/detokenize: it turns a vault token
// back into the card number it stands for, for callers an IAM policy allows
// the strata:Detokenize action (a payments back office, never the bot).
// Every call is audited.
package detokenize

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"strata/internal/apierr"
	"strata/internal/audit"
	"strata/internal/guard/vault"
	"strata/internal/iam"
)

// Authenticator verifies a request and returns its principal and body.
type Authenticator interface {
	Authenticate(r *http.Request) (*iam.Principal, []byte, error)
}

// Detokenizer is the vault.
type Detokenizer interface {
	Detokenize(ctx context.Context, token string) (string, error)
}

// Handler serves the endpoint.
type Handler struct {
	Authn    Authenticator // non-nil
	Vault    Detokenizer   // non-nil
	Recorder *audit.Trail  // or nil
	Logger   *slog.Logger  // nil means discard
}

// Register adds the route.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /strata/detokenize", h.serve)
}

func writeJSON(w http.ResponseWriter, st int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(v)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	req := audit.RequestFrom(r.Context())
	p, body, err := h.Authn.Authenticate(r)
	if err != nil {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "the request could not be authenticated", "type": "AccessDeniedException"})
		return
	}
	var in struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&in); err != nil || in.Token == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body must be {\"token\": \"[CARD_...]\"}", "type": "ValidationException"})
		return
	}
	pan, err := h.Vault.Detokenize(iam.WithPrincipal(r.Context(), p), in.Token)
	outcome := "ok"
	st, typ := http.StatusOK, ""
	switch {
	case err == nil:
	case errors.Is(err, vault.ErrDenied):
		st, typ = http.StatusForbidden, "AccessDeniedException"
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, vault.ErrExpired):
		st, typ = http.StatusNotFound, "ResourceNotFoundException"
	case errors.Is(err, vault.ErrBadToken):
		st, typ = http.StatusBadRequest, "ValidationException"
	default:
		st, typ = http.StatusInternalServerError, apierr.Internal.String()
		if h.Logger != nil {
			h.Logger.Error("detokenize", "err", err)
		}
	}
	if typ != "" {
		outcome = typ
	}
	if h.Recorder != nil {
		// The token is recorded (it is not card data); the number never is.
		h.Recorder.Append(audit.Event{RequestID: req.ID, SourceIP: req.SourceIP, Principal: p.ARN, Account: p.Account,
			API: "strata", Operation: "Detokenize", Resource: in.Token, Outcome: outcome})
	}
	if err != nil {
		writeJSON(w, st, map[string]string{"error": errorMessage(typ), "type": typ})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"pan": pan})
}

func errorMessage(typ string) string {
	switch typ {
	case "AccessDeniedException":
		return "You are not allowed the strata:Detokenize action"
	case "ResourceNotFoundException":
		return "The token is unknown or expired"
	case "ValidationException":
		return "The token is malformed"
	}
	return "An internal error occurred"
}
