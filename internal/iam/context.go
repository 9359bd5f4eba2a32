package iam

import "context"

type principalKey struct{}

// WithPrincipal returns ctx carrying the authenticated caller, for parts
// that authorize deep inside a call (the token vault's Detokenize).
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller ctx carries, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
