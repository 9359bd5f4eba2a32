// Package auth authenticates requests: it verifies AWS Signature Version 4
// (header form, as the AWS SDKs send it, and S3's presigned URLs), the chunk
// and trailer signatures of S3's aws-chunked bodies, and makes and checks
// access keys and API bearer keys.
//
// It answers "which access key signed this request, and is the signature
// good?" only. Mapping an access key to a principal, sessions and policy
// evaluation belong to the iam package.
//
// Verification follows the SigV4 algorithm step by step: the canonical
// request is built from the headers the client says it signed (so HTTP/2
// clients that sign ":authority" verify), the request time must lie within
// MaxSkew of now, the credential scope's date must be the request's day (and
// its region one of Regions, if set), and signatures are computed with
// crypto/hmac and compared in constant time. For service s3 the payload may
// be UNSIGNED-PAYLOAD or aws-chunked: Verify then returns a ChunkVerifier
// for the body's chain of chunk signatures, seeded with the request's.
// VerifyPresigned checks the query form, with X-Amz-Expires of at most
// seven days. Failures are *Error values with a Kind that the API layers
// map to AWS's wire errors with Kind.Wire.
package auth
