// Package openai serves the OpenAI API over strata's runtime:
// /v1/chat/completions and /v1/completions (with SSE streaming, usage in
// the final chunk, logprobs, stop and seed) and /v1/models, so the openai
// clients work with only the base URL and key changed. Callers
// authenticate with an API bearer key ("strata keys create") or a SigV4
// signature, and are authorized exactly like Bedrock's InvokeModel callers.
//
// It also serves /strata/api-keys, the management API behind
// "strata keys": create, list and delete the bearer keys of IAM users.
//
// Errors use OpenAI's shape, {"error":{"message","type","param","code"}},
// with OpenAI's statuses; see WriteError.
package openai

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"time"

	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/runtime"
)

// Authenticator returns a request's principal and its body (read, bounded,
// and restored on r). server.Bearer, falling back to server.SigV4, is the
// one strata uses.
type Authenticator interface {
	Authenticate(r *http.Request) (*iam.Principal, []byte, error)
}

// Models lists and reads the caller's imported models, authorizing the
// caller; modelimport.Service satisfies it.
type Models interface {
	ListModels(ctx context.Context, p *iam.Principal, in modelimport.ListInput) ([]*modelimport.Model, string, error)
	GetModel(ctx context.Context, p *iam.Principal, ident string) (*modelimport.Model, error)
}

// Keys stores API bearer keys; iam.Directory satisfies it.
type Keys interface {
	CreateAPIKey(ctx context.Context, account, userName string) (key, id string, err error)
	ListAPIKeys(ctx context.Context, account, userName string) ([]iam.APIKey, error)
	GetAPIKey(ctx context.Context, account, id string) (iam.APIKey, error)
	DeleteAPIKey(ctx context.Context, account, id string) error
}

// Handler serves the OpenAI API.
type Handler struct {
	Authn   Authenticator    // non-nil
	Runtime *runtime.Runtime // non-nil
	Models  Models           // non-nil
	// Keys and Authorizer serve /strata/api-keys; nil Keys leaves it out.
	Keys       Keys
	Authorizer iam.Authorizer
	// Forget, when set, is called with the id of a deleted key so cached
	// authentications end at once (server.Bearer.Forget).
	Forget func(id string)
	Logger *slog.Logger     // nil means discard
	Now    func() time.Time // nil means time.Now
}

// Register adds the OpenAI routes (and /strata/api-keys when Keys is set)
// to mux. Unknown /v1/ paths answer OpenAI's 404.
func (h *Handler) Register(mux *http.ServeMux) {
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	if h.Now == nil {
		h.Now = time.Now
	}
	routes := []struct {
		pattern string
		fn      handlerFunc
	}{
		{"POST /v1/chat/completions", h.chatCompletions},
		{"POST /v1/completions", h.completions},
		{"GET /v1/models", h.listModels},
		{"GET /v1/models/{id...}", h.getModel},
	}
	if h.Keys != nil {
		routes = append(routes, []struct {
			pattern string
			fn      handlerFunc
		}{
			{"POST /strata/api-keys", h.createKey},
			{"GET /strata/api-keys", h.listKeys},
			{"DELETE /strata/api-keys/{id}", h.deleteKey},
		}...)
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, h.op(rt.fn))
	}
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, h.Logger, &Error{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "unknown_url",
			Message: "Invalid URL (" + r.Method + " " + r.URL.Path + ")"})
	})
}

// handlerFunc is an operation: it gets the authenticated principal and the
// request body, writes a success response, or returns an error.
type handlerFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error

// op authenticates a request and runs fn, writing any error in OpenAI's shape.
func (h *Handler) op(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, body, err := h.Authn.Authenticate(r)
		if err != nil {
			WriteError(w, h.Logger, err)
			return
		}
		if err := fn(r.Context(), w, r, p, body); err != nil {
			if r.Context().Err() != nil {
				return // the client went away; nobody reads an answer
			}
			WriteError(w, h.Logger, err)
		}
	})
}

// newID returns a response id: prefix and 24 random alphanumerics.
func newID(prefix string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [24]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b[:])
}
