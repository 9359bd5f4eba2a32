// Package dashboard serves strata's built-in web dashboard on the main
// listener: a static page (GET /dashboard, assets under /dashboard/) and
// the JSON it polls, GET /dashboard/api/summary, which summarizes strata's
// own Prometheus registry.
//
// The page holds no data and is public. The summary needs a caller
// authenticated like every strata API (a bearer API key, or SigV4) and
// allowed the action cloudwatch:GetMetricData on the resource
// arn:aws:cloudwatch::ACCOUNT:dashboard/strata (ACCOUNT is the caller's).
// It shows only the caller's account's models: series labelled with
// another account's ARN are left out. Metrics hold no prompt text or card
// data, so neither can the dashboard.
package dashboard

import (
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"strata/internal/apierr"
	"strata/internal/audit"
	"strata/internal/auth"
	"strata/internal/iam"
)

// Action is the IAM action the summary is authorized with.
const Action = "cloudwatch:GetMetricData"

// Resource returns the ARN the summary is authorized on for account.
func Resource(account string) string { return "arn:aws:cloudwatch::" + account + ":dashboard/strata" }

// Authenticator verifies a request and returns its principal and body;
// server.Bearer satisfies it.
type Authenticator interface {
	Authenticate(r *http.Request) (*iam.Principal, []byte, error)
}

// Handler serves the dashboard.
type Handler struct {
	Authn      Authenticator       // non-nil
	Authorizer iam.Authorizer      // non-nil
	Gatherer   prometheus.Gatherer // non-nil: strata's registry
	Logger     *slog.Logger        // nil means discard
}

//go:embed static
var static embed.FS

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	assets, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/dashboard/", http.FileServerFS(assets))
	mux.HandleFunc("GET /dashboard", func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w)
		http.ServeFileFS(w, r, assets, "index.html")
	})
	mux.HandleFunc("GET /dashboard/", func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w)
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /dashboard/api/summary", h.summary)
}

// pageHeaders keeps the page to its own assets and out of frames.
func pageHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

func (h *Handler) summary(w http.ResponseWriter, r *http.Request) {
	reqID := audit.RequestFrom(r.Context()).ID
	p, _, err := h.Authn.Authenticate(r)
	if err != nil {
		h.writeError(w, reqID, err)
		return
	}
	err = h.Authorizer.Authorize(r.Context(), iam.Request{Principal: p, Action: Action, Resource: Resource(p.Account)})
	if d, ok := errors.AsType[*iam.DeniedError](err); ok {
		err = apierr.Wrap(apierr.AccessDenied, err, d.Error())
	}
	if err != nil {
		h.writeError(w, reqID, err)
		return
	}
	families, err := h.Gatherer.Gather()
	if err != nil {
		// Gather returns what it could; a failing collector loses its own
		// series only.
		h.log().Warn("gathering metrics", "err", err)
	}
	writeJSON(w, http.StatusOK, summarize(families, p.Account, time.Now()))
}

func (h *Handler) log() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// errorBody is the JSON error shape: {"error", "type", "request_id"}, as
// POST /query answers.
type errorBody struct {
	Message   string `json:"error"`
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
}

// writeError answers a failed summary. A missing or unknown API key is
// 401 (the page asks for a key again); a SigV4 failure keeps the status
// and code the auth package chose; a denied action is 403.
func (h *Handler) writeError(w http.ResponseWriter, reqID string, err error) {
	if ae, ok := errors.AsType[*auth.Error](err); ok {
		code, st := ae.Wire(auth.JSON)
		writeJSON(w, st, errorBody{Message: ae.Message, Type: code, RequestID: reqID})
		return
	}
	e := apierr.From(err)
	st := http.StatusForbidden
	switch e.Kind {
	case apierr.MissingAuthentication, apierr.UnrecognizedClient:
		st = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="strata"`)
	case apierr.RequestTooLarge:
		st = http.StatusRequestEntityTooLarge
	case apierr.Internal:
		st = http.StatusInternalServerError
		h.log().Error("dashboard summary", "err", err)
	}
	writeJSON(w, st, errorBody{Message: e.Message, Type: e.Kind.String(), RequestID: reqID})
}

func writeJSON(w http.ResponseWriter, st int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(v)
}
