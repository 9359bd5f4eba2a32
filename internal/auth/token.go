package auth

import (
	"context"
	"net/http"
)

type securityTokenKey struct{}

// WithSecurityToken returns ctx carrying a request's X-Amz-Security-Token
// ("" for none), for key lookups that must check a session's token: the
// Verifier calls Lookup with it, and handlers that look a key up again
// after verifying (S3) get it from SecurityTokenContext.
func WithSecurityToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, securityTokenKey{}, token)
}

// SecurityTokenFrom returns the session token ctx carries, and whether ctx
// carries one at all (as opposed to a request without a token).
func SecurityTokenFrom(ctx context.Context) (token string, ok bool) {
	token, ok = ctx.Value(securityTokenKey{}).(string)
	return token, ok
}

// securityToken returns r's session token: the X-Amz-Security-Token
// header, or the query parameter of a presigned URL.
func securityToken(r *http.Request) string {
	if IsPresigned(r) {
		return r.URL.Query().Get(querySecurityToken)
	}
	return r.Header.Get(HeaderSecurityToken)
}

// SecurityTokenContext puts every request's session token in its context
// (WithSecurityToken), so a handler's own key lookups can check it.
func SecurityTokenContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithSecurityToken(r.Context(), securityToken(r))))
	})
}
