package audit

import (
	"context"
	"net"
	"net/http"
)

type requestKey struct{}

// Request is what the HTTP edge knows of a request, for its audit events.
type Request struct {
	ID       string
	SourceIP string
}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the request ctx carries, if any.
func RequestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}

// SourceIP returns the TCP peer address of r, without its port.
func SourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
