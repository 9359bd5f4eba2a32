package auth

import (
	"errors"
	"fmt"
)

// ErrUnknownKey is what a Verifier's Lookup returns (possibly wrapped) when no
// secret exists for the access key id. Verify turns it into KindUnknownKey.
var ErrUnknownKey = errors.New("unknown access key")

// ErrUnsupportedPayload is the cause (Error.Err) of a KindMalformed failure
// whose X-Amz-Content-Sha256 is absent where the service requires it, or
// names a payload mode the service does not accept. APIs whose protocol
// answers these with their own codes (S3) branch on it with errors.Is.
var ErrUnsupportedPayload = errors.New("unsupported X-Amz-Content-Sha256")

// Kind classifies an authentication failure. The set is closed and only
// grows at the end.
type Kind int

const (
	// KindMissing: the request carries no Authorization header.
	KindMissing Kind = iota + 1
	// KindMalformed: the Authorization header, X-Amz-Date or
	// X-Amz-Content-Sha256 cannot be parsed, or a required header is not signed.
	KindMalformed
	// KindUnknownKey: no secret exists for the access key id.
	KindUnknownKey
	// KindBadSignature: the signature does not match, or the credential
	// scope names another date or an unaccepted service.
	KindBadSignature
	// KindExpired: X-Amz-Date is further than MaxSkew from now.
	KindExpired
	// KindPayloadMismatch: the body's SHA-256 differs from X-Amz-Content-Sha256.
	KindPayloadMismatch
	// KindTooLarge: the body exceeds the limit given to VerifyRequest.
	KindTooLarge
	// KindInternal: the key lookup or reading the body failed.
	KindInternal
	// KindWrongRegion: the credential scope names a region the Verifier
	// does not serve (header form).
	KindWrongRegion
	// KindMalformedQuery: a presigned URL's X-Amz-Date or X-Amz-Expires is
	// malformed or out of range, or its credential names a region the
	// Verifier does not serve.
	KindMalformedQuery
	// KindURLExpired: a presigned URL is used after X-Amz-Date + X-Amz-Expires.
	KindURLExpired
	// KindInvalidToken: a temporary (ASIA) key came without its session
	// token or with another one, or a long-term key came with a token.
	KindInvalidToken
	// KindExpiredToken: a temporary key's session has expired.
	KindExpiredToken
)

var kindNames = [...]string{
	KindMissing:         "missing",
	KindMalformed:       "malformed",
	KindUnknownKey:      "unknown-key",
	KindBadSignature:    "bad-signature",
	KindExpired:         "expired",
	KindPayloadMismatch: "payload-mismatch",
	KindTooLarge:        "too-large",
	KindInternal:        "internal",
	KindWrongRegion:     "wrong-region",
	KindMalformedQuery:  "malformed-query",
	KindURLExpired:      "url-expired",
	KindInvalidToken:    "invalid-token",
	KindExpiredToken:    "expired-token",
}

// String returns a short lower-case name for k.
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Protocol names an AWS wire protocol family, which decides the error code
// names AWS uses for the same failure.
type Protocol int

const (
	// JSON is awsRestJson1 and awsJson1_0/1_1 (Bedrock, KMS): the code goes
	// in X-Amzn-ErrorType or __type.
	JSON Protocol = iota
	// Query is the AWS Query protocol (STS, IAM): the code goes in <Code>.
	Query
	// S3 is the S3 REST-XML protocol.
	S3
)

// wireCodes holds AWS's error code and HTTP status per Kind and Protocol, as
// the services send them:
//
//   - missing:  MissingAuthenticationTokenException 403 ("Missing Authentication
//     Token"); Query MissingAuthenticationToken 403; S3 AccessDenied 403.
//   - malformed: IncompleteSignatureException 400; Query IncompleteSignature 400;
//     S3 AuthorizationHeaderMalformed 400.
//   - unknown key: UnrecognizedClientException 403 ("The security token included
//     in the request is invalid."); Query InvalidClientTokenId 403; S3
//     InvalidAccessKeyId 403.
//   - bad signature: InvalidSignatureException 403; Query and S3
//     SignatureDoesNotMatch 403.
//   - expired: InvalidSignatureException 403 ("Signature expired: ..."); Query
//     SignatureDoesNotMatch 403; S3 RequestTimeTooSkewed 403.
//   - payload mismatch: InvalidSignatureException 403; Query
//     SignatureDoesNotMatch 403; S3 XAmzContentSHA256Mismatch 400.
//   - too large: ValidationException 413; Query ValidationError 413; S3
//     EntityTooLarge 400.
//   - internal: InternalFailure 500 (JSON and Query); S3 InternalError 500.
//   - wrong region: InvalidSignatureException 403 ("Credential should be
//     scoped to a valid region."); Query SignatureDoesNotMatch 403; S3
//     AuthorizationHeaderMalformed 400 (with a <Region> element the S3 API adds).
//   - malformed query: IncompleteSignatureException 400; Query
//     IncompleteSignature 400; S3 AuthorizationQueryParametersError 400.
//   - URL expired: InvalidSignatureException 403; Query SignatureDoesNotMatch
//     403; S3 AccessDenied 403 ("Request has expired").
//   - invalid token: UnrecognizedClientException 403 ("The security token
//     included in the request is invalid."); Query InvalidClientTokenId 403;
//     S3 InvalidToken 400.
//   - expired token: ExpiredTokenException 403 ("The security token included
//     in the request is expired"); Query ExpiredToken 400; S3 ExpiredToken 400.
var wireCodes = map[Kind][3]struct {
	code   string
	status int
}{
	KindMissing:         {{"MissingAuthenticationTokenException", 403}, {"MissingAuthenticationToken", 403}, {"AccessDenied", 403}},
	KindMalformed:       {{"IncompleteSignatureException", 400}, {"IncompleteSignature", 400}, {"AuthorizationHeaderMalformed", 400}},
	KindUnknownKey:      {{"UnrecognizedClientException", 403}, {"InvalidClientTokenId", 403}, {"InvalidAccessKeyId", 403}},
	KindBadSignature:    {{"InvalidSignatureException", 403}, {"SignatureDoesNotMatch", 403}, {"SignatureDoesNotMatch", 403}},
	KindExpired:         {{"InvalidSignatureException", 403}, {"SignatureDoesNotMatch", 403}, {"RequestTimeTooSkewed", 403}},
	KindPayloadMismatch: {{"InvalidSignatureException", 403}, {"SignatureDoesNotMatch", 403}, {"XAmzContentSHA256Mismatch", 400}},
	KindTooLarge:        {{"ValidationException", 413}, {"ValidationError", 413}, {"EntityTooLarge", 400}},
	KindInternal:        {{"InternalFailure", 500}, {"InternalFailure", 500}, {"InternalError", 500}},
	KindWrongRegion:     {{"InvalidSignatureException", 403}, {"SignatureDoesNotMatch", 403}, {"AuthorizationHeaderMalformed", 400}},
	KindMalformedQuery:  {{"IncompleteSignatureException", 400}, {"IncompleteSignature", 400}, {"AuthorizationQueryParametersError", 400}},
	KindURLExpired:      {{"InvalidSignatureException", 403}, {"SignatureDoesNotMatch", 403}, {"AccessDenied", 403}},
	KindInvalidToken:    {{"UnrecognizedClientException", 403}, {"InvalidClientTokenId", 403}, {"InvalidToken", 400}},
	KindExpiredToken:    {{"ExpiredTokenException", 403}, {"ExpiredToken", 400}, {"ExpiredToken", 400}},
}

// Wire returns the AWS error code and HTTP status for k in protocol p.
// Unknown kinds map to an internal failure.
func (k Kind) Wire(p Protocol) (code string, status int) {
	w, ok := wireCodes[k]
	if !ok || p < JSON || p > S3 {
		w = wireCodes[KindInternal]
		if p < JSON || p > S3 {
			p = JSON
		}
	}
	return w[p].code, w[p].status
}

// Error is an authentication failure. Message is safe to send to the client:
// it never contains a secret or the expected signature.
type Error struct {
	Kind    Kind
	Message string
	Err     error // underlying cause, for logs; may be nil
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("auth %s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("auth %s: %s", e.Kind, e.Message)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Wire returns the AWS error code and HTTP status for e in protocol p.
func (e *Error) Wire(p Protocol) (code string, status int) { return e.Kind.Wire(p) }

// KindOf returns the Kind of the first *Error in err's chain, or 0 if none.
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return 0
}

func newError(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Standard messages, worded as AWS words them.
const (
	msgMissing    = "Missing Authentication Token"
	msgUnknownKey = "The security token included in the request is invalid."
	msgBadSig     = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgMismatch   = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgLookup     = "The access key could not be looked up."
)

// Session-token failures. Lookup functions return them (as they return
// ErrUnknownKey) when the X-Amz-Security-Token that WithSecurityToken put
// in their context does not fit the access key; the Verifier passes an
// *Error from Lookup through unchanged.
var (
	ErrInvalidToken = &Error{Kind: KindInvalidToken, Message: msgUnknownKey}
	ErrExpiredToken = &Error{Kind: KindExpiredToken, Message: "The security token included in the request is expired"}
)
