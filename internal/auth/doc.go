// Package auth authenticates requests: it verifies AWS Signature Version 4
// (header form, as the AWS SDKs send it) and makes and checks access keys and
// API bearer keys.
//
// It answers "which access key signed this request, and is the signature
// good?" only. Mapping an access key to a principal, sessions and policy
// evaluation belong to the iam package.
//
// Verification follows the SigV4 algorithm step by step: the canonical
// request is built from the headers the client says it signed (so HTTP/2
// clients that sign ":authority" verify), the request time must lie within
// MaxSkew of now, the credential scope's date must be the request's day, and
// signatures are compared in constant time. Failures are *Error values with a
// Kind that the API layers map to AWS's wire errors with Kind.Wire.
package auth
