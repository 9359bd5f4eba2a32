package kms

import "errors"

// Errors, possibly wrapped with the key ARN; test with errors.Is. Code
// maps them to AWS KMS error names.
var (
	// ErrNotFound: no such key or alias (NotFoundException, 404).
	ErrNotFound = errors.New("kms: not found")
	// ErrDisabled: the key is disabled (DisabledException, 409).
	ErrDisabled = errors.New("kms: key is disabled")
	// ErrInvalidState: the operation is not allowed in the key's state,
	// e.g. pending deletion (KMSInvalidStateException, 409).
	ErrInvalidState = errors.New("kms: key is in an invalid state for the operation")
	// ErrInvalidCiphertext: the ciphertext is malformed, was tampered with,
	// or the encryption context differs (InvalidCiphertextException, 400).
	ErrInvalidCiphertext = errors.New("kms: invalid ciphertext")
	// ErrAlreadyExists: the alias is taken (AlreadyExistsException, 409).
	ErrAlreadyExists = errors.New("kms: already exists")
	// ErrInvalidAlias: the alias name is malformed or reserved
	// (InvalidAliasNameException, 400).
	ErrInvalidAlias = errors.New("kms: invalid alias name")
	// ErrValidation: a parameter is out of range (ValidationException, 400).
	ErrValidation = errors.New("kms: validation error")
)

// Code returns the AWS KMS error type and HTTP status for err, or
// ("KMSInternalException", 500) for errors of no known kind.
func Code(err error) (code string, status int) {
	switch {
	case errors.Is(err, ErrNotFound):
		return "NotFoundException", 404
	case errors.Is(err, ErrDisabled):
		return "DisabledException", 409
	case errors.Is(err, ErrInvalidState):
		return "KMSInvalidStateException", 409
	case errors.Is(err, ErrInvalidCiphertext):
		return "InvalidCiphertextException", 400
	case errors.Is(err, ErrAlreadyExists):
		return "AlreadyExistsException", 409
	case errors.Is(err, ErrInvalidAlias):
		return "InvalidAliasNameException", 400
	case errors.Is(err, ErrValidation):
		return "ValidationException", 400
	}
	return "KMSInternalException", 500
}
