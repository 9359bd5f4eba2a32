package s3

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"strata/internal/auth"
	"strata/internal/iam"
)

// Keys looks up access keys. *server.SigV4 is one that caches them briefly
// (shared with the other AWS APIs); *iam.Directory reads the store every time.
type Keys interface {
	LookupAccessKey(ctx context.Context, id string) (secret string, p *iam.Principal, err error)
}

// Payload modes: the values of X-Amz-Content-Sha256 besides a hex digest.
const (
	modeUnsigned         = auth.UnsignedPayload
	modeStreaming        = auth.StreamingPayload
	modeStreamingTrailer = auth.StreamingPayloadTrailer
	modeUnsignedTrailer  = auth.StreamingUnsignedPayloadTrailer
)

// caller is an authenticated request: who signed it and how its body is
// to be checked.
type caller struct {
	p      *iam.Principal
	mode   string              // X-Amz-Content-Sha256 as signed; UNSIGNED-PAYLOAD for a presigned URL
	chunks *auth.ChunkVerifier // for a signed aws-chunked body, else nil
}

// streaming reports whether the body is aws-chunked.
func (c *caller) streaming() bool { return strings.HasPrefix(c.mode, "STREAMING-") }

// lookupSecret is the auth.Verifier's Lookup.
func (h *Handler) lookupSecret(ctx context.Context, id string) (string, error) {
	secret, _, err := h.keys.LookupAccessKey(ctx, id)
	if errors.Is(err, iam.ErrNoSuchEntity) {
		return "", auth.ErrUnknownKey
	}
	return secret, err
}

// authenticate verifies r's signature (header or presigned URL) without
// reading its body. A hex X-Amz-Content-Sha256 is checked against the
// body later, as it streams; aws-chunked bodies carry their own chunk
// signatures, checked with caller.chunks.
func (h *Handler) authenticate(r *http.Request) (*caller, error) {
	c := &caller{}
	var cred auth.Credential
	var err error
	if auth.IsPresigned(r) {
		c.mode = modeUnsigned
		cred, err = h.verifier.VerifyPresigned(r)
	} else {
		c.mode = r.Header.Get(auth.HeaderContentSHA256)
		cred, err = h.verifier.Verify(r, "")
	}
	if err != nil {
		return nil, h.authFailure(err, c.mode)
	}
	c.chunks = cred.Chunks
	// The principal comes from the lookup that gave the secret (cached by
	// *server.SigV4).
	_, c.p, err = h.keys.LookupAccessKey(r.Context(), cred.AccessKeyID)
	if errors.Is(err, iam.ErrNoSuchEntity) || errors.Is(err, auth.ErrUnknownKey) {
		return nil, &auth.Error{Kind: auth.KindUnknownKey, Message: "The AWS Access Key Id you provided does not exist in our records.", Err: err}
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// authFailure turns the auth failures S3 answers with its own codes into
// S3 errors: a missing or unsupported x-amz-content-sha256, and a
// credential for another region (with the <Region> element). Other
// failures keep their auth.Kind, mapped by toError.
func (h *Handler) authFailure(err error, mode string) error {
	if errors.Is(err, auth.ErrUnsupportedPayload) {
		switch {
		case mode == "":
			return errInvalidRequest("Missing required header for this request: x-amz-content-sha256")
		case strings.HasPrefix(mode, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"):
			return errNotImplemented("SigV4a (ECDSA) payload signing")
		}
		return errInvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER], or a lower-case hex SHA-256.")
	}
	if e, ok := errors.AsType[*auth.Error](err); ok && e.Kind == auth.KindWrongRegion {
		return s3err(400, "AuthorizationHeaderMalformed", e.Message, field{"Region", h.region})
	}
	return err
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
