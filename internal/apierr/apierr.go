// Package apierr is the closed set of error kinds strata's operations
// return. Each API package maps a Kind to its own wire shape: api/bedrock to
// AWS error types and X-Amzn-ErrorType, api/openai to OpenAI's error types.
package apierr

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the wire. New kinds are only added at the end.
type Kind int

// The kinds. Their names are the AWS error types they map to.
const (
	Internal Kind = iota
	Validation
	NotFound
	Conflict
	AccessDenied
	Throttling
	ServiceQuotaExceeded
	ServiceUnavailable
	UnrecognizedClient
	InvalidSignature
	MissingAuthentication
	ModelNotReady
	ModelTimeout
	ModelError
	ModelStreamError
	TooManyTags
	ResourceInUse
	RequestTooLarge
	ExpiredToken
	UnknownOperation
)

var names = [...]string{
	Internal:              "InternalServerException",
	Validation:            "ValidationException",
	NotFound:              "ResourceNotFoundException",
	Conflict:              "ConflictException",
	AccessDenied:          "AccessDeniedException",
	Throttling:            "ThrottlingException",
	ServiceQuotaExceeded:  "ServiceQuotaExceededException",
	ServiceUnavailable:    "ServiceUnavailableException",
	UnrecognizedClient:    "UnrecognizedClientException",
	InvalidSignature:      "InvalidSignatureException",
	MissingAuthentication: "MissingAuthenticationTokenException",
	ModelNotReady:         "ModelNotReadyException",
	ModelTimeout:          "ModelTimeoutException",
	ModelError:            "ModelErrorException",
	ModelStreamError:      "ModelStreamErrorException",
	TooManyTags:           "TooManyTagsException",
	ResourceInUse:         "ResourceInUseException",
	RequestTooLarge:       "ValidationException",
	ExpiredToken:          "ExpiredTokenException",
	UnknownOperation:      "UnknownOperationException",
}

// String returns the AWS error type of k.
func (k Kind) String() string {
	if int(k) < len(names) {
		return names[k]
	}
	return names[Internal]
}

// Error is an error with a Kind and a message safe to show the caller.
type Error struct {
	Kind    Kind
	Message string // shown to the caller
	Err     error  // the cause, for logs; never shown
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Kind.String() + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Kind.String() + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an Error of kind k with a formatted message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error of kind k with message msg and cause err.
func Wrap(k Kind, err error, msg string) *Error {
	return &Error{Kind: k, Message: msg, Err: err}
}

// From returns err as an *Error. Errors that are not one become Internal
// with a generic message, so internals never leak to callers.
func From(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	return &Error{Kind: Internal, Message: "An internal error occurred. Try your request again.", Err: err}
}
