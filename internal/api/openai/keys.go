package openai

import (
	"context"
	"errors"
	"net/http"
	"time"

	"strata/internal/apierr"
	"strata/internal/arn"
	"strata/internal/iam"
)

// The IAM actions of the API-key management API. Their resource is the
// user's ARN ("*" when listing every user's keys).
const (
	ActionCreateAPIKey = "strata:CreateAPIKey"
	ActionListAPIKeys  = "strata:ListAPIKeys"
	ActionDeleteAPIKey = "strata:DeleteAPIKey"
)

type keyJSON struct {
	ID       string `json:"id"`
	Key      string `json:"key,omitempty"` // only when created
	UserName string `json:"userName"`
	UserARN  string `json:"userArn"`
	Created  string `json:"created"`
}

func (h *Handler) authorizeKeys(ctx context.Context, p *iam.Principal, action, resource string) error {
	err := h.Authorizer.Authorize(ctx, iam.Request{Principal: p, Action: action, Resource: resource})
	if d, ok := errors.AsType[*iam.DeniedError](err); ok {
		return apierr.Wrap(apierr.AccessDenied, err, d.Error())
	}
	return err
}

// keysError maps the directory's errors.
func keysError(err error) error {
	if errors.Is(err, iam.ErrNoSuchEntity) {
		return &Error{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "not_found", Message: err.Error(), Err: err}
	}
	return err
}

// createKey serves POST /strata/api-keys {"userName"}: a new key for the
// named user of the caller's account (default: the calling user). The key
// is in this response only.
func (h *Handler) createKey(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	var in struct {
		UserName string `json:"userName"`
	}
	if len(body) > 0 {
		if err := decode(body, &in); err != nil {
			return err
		}
	}
	if in.UserName == "" {
		if p.Kind != iam.KindUser {
			return invalid("userName", "userName is required when the caller is not an IAM user")
		}
		in.UserName = p.Name
	}
	userARN := arn.IAM(p.Account, "user/"+in.UserName)
	if err := h.authorizeKeys(ctx, p, ActionCreateAPIKey, userARN); err != nil {
		return err
	}
	key, id, err := h.Keys.CreateAPIKey(ctx, p.Account, in.UserName)
	if err != nil {
		return keysError(err)
	}
	h.Logger.Info("API key created", "id", id, "user", userARN, "by", p.ARN)
	writeJSON(w, keyJSON{ID: id, Key: key, UserName: in.UserName, UserARN: userARN, Created: h.Now().UTC().Format(time.RFC3339)})
	return nil
}

// listKeys serves GET /strata/api-keys[?userName=NAME]: key ids, never keys.
func (h *Handler) listKeys(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	user := r.URL.Query().Get("userName")
	resource := "*"
	if user != "" {
		resource = arn.IAM(p.Account, "user/"+user)
	}
	if err := h.authorizeKeys(ctx, p, ActionListAPIKeys, resource); err != nil {
		return err
	}
	keys, err := h.Keys.ListAPIKeys(ctx, p.Account, user)
	if err != nil {
		return err
	}
	out := make([]keyJSON, len(keys))
	for i, k := range keys {
		out[i] = keyJSON{ID: k.ID, UserName: k.UserName, UserARN: k.UserARN, Created: k.Created.UTC().Format(time.RFC3339)}
	}
	writeJSON(w, map[string]any{"apiKeys": out})
	return nil
}

// deleteKey serves DELETE /strata/api-keys/{id}.
func (h *Handler) deleteKey(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	id := r.PathValue("id")
	k, err := h.Keys.GetAPIKey(ctx, p.Account, id)
	if err != nil {
		return keysError(err)
	}
	if err := h.authorizeKeys(ctx, p, ActionDeleteAPIKey, k.UserARN); err != nil {
		return err
	}
	if err := h.Keys.DeleteAPIKey(ctx, p.Account, id); err != nil {
		return keysError(err)
	}
	if h.Forget != nil {
		h.Forget(id)
	}
	h.Logger.Info("API key deleted", "id", id, "user", k.UserARN, "by", p.ARN)
	writeJSON(w, map[string]any{"id": id, "deleted": true})
	return nil
}
