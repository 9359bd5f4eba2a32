package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
)

// String-to-sign algorithm lines of aws-chunked chunks and trailers.
const (
	algorithmChunk   = "AWS4-HMAC-SHA256-PAYLOAD"
	algorithmTrailer = "AWS4-HMAC-SHA256-TRAILER"
)

// ChunkVerifier checks the signatures of a signed aws-chunked body
// (StreamingPayload, StreamingPayloadTrailer). Chunk i's signature is
//
//	HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\n" + amzDate + "\n" + scope + "\n" +
//	     sig(i-1) + "\n" + hex(SHA256("")) + "\n" + hex(SHA256(chunk i)))
//
// where sig(0) is the request's ("seed") signature, and the final, empty
// chunk is signed too. The trailer's is
//
//	HMAC(key, "AWS4-HMAC-SHA256-TRAILER\n" + amzDate + "\n" + scope + "\n" +
//	     sig(last chunk) + "\n" + hex(SHA256(trailer)))
//
// Verify the chunks in order with VerifyChunk, then the trailer, if any,
// with VerifyTrailer. After a failure every call fails. Signatures are
// computed with crypto/hmac and compared in constant time.
//
// Verify returns one per request, in Credential.Chunks; it is not safe for
// concurrent use. Its fields print as addresses, never as the key.
type ChunkVerifier struct {
	mac  hash.Hash // HMAC-SHA256 keyed with the request's signing key
	head string    // "\n<amzDate>\n<scope>\n", after the algorithm line
	prev [signatureHexLen]byte
	buf  []byte
	err  error // the first failure, returned by every later call
}

// newChunkVerifier returns the ChunkVerifier of a request whose signature,
// made with key, verified.
func newChunkVerifier(key [32]byte, amzDate string, a *Authorization) *ChunkVerifier {
	c := &ChunkVerifier{
		mac:  hmac.New(sha256.New, key[:]),
		head: "\n" + amzDate + "\n" + a.Scope() + "\n",
	}
	copy(c.prev[:], a.Signature)
	return c
}

// VerifyChunk checks signature, the chunk-signature of the next chunk,
// whose data has SHA-256 sum. It returns an *Error of KindBadSignature
// if it does not match.
func (c *ChunkVerifier) VerifyChunk(sum [sha256.Size]byte, signature string) error {
	if c.err != nil {
		return c.err
	}
	b := append(c.buf[:0], algorithmChunk...)
	b = c.appendHead(b)
	b = append(b, EmptyPayloadHash+"\n"...)
	b = hex.AppendEncode(b, sum[:])
	c.buf = b
	if !c.matches(b, signature) {
		c.err = newError(KindBadSignature, "The chunk signature we calculated does not match the signature you provided.")
		return c.err
	}
	copy(c.prev[:], signature)
	return nil
}

// VerifyTrailer checks signature, the x-amz-trailer-signature of the
// trailer that follows the final chunk. trailer is the trailer headers
// in canonical form: each "name:value\n", names lower case, in the order
// sent. It returns an *Error of KindBadSignature if it does not match.
// The body ends with the trailer: later calls fail.
func (c *ChunkVerifier) VerifyTrailer(trailer, signature string) error {
	if c.err != nil {
		return c.err
	}
	sum := sha256.Sum256([]byte(trailer))
	b := append(c.buf[:0], algorithmTrailer...)
	b = c.appendHead(b)
	b = hex.AppendEncode(b, sum[:])
	c.buf = b
	if !c.matches(b, signature) {
		c.err = newError(KindBadSignature, "The trailer signature we calculated does not match the signature you provided.")
		return c.err
	}
	c.err = &Error{Kind: KindInternal, Message: "The request body could not be verified.",
		Err: errors.New("auth: ChunkVerifier used after the trailer")}
	return nil
}

// appendHead appends the string to sign's middle: the request's date and
// scope and the previous signature.
func (c *ChunkVerifier) appendHead(b []byte) []byte {
	b = append(b, c.head...)
	b = append(b, c.prev[:]...)
	return append(b, '\n')
}

// matches reports whether signature is the hex HMAC of stringToSign.
func (c *ChunkVerifier) matches(stringToSign []byte, signature string) bool {
	if !isLowerHex(signature, signatureHexLen) {
		return false
	}
	c.mac.Reset()
	c.mac.Write(stringToSign)
	var want [sha256.Size]byte
	c.mac.Sum(want[:0])
	got := decodeSignature(signature)
	return hmac.Equal(want[:], got[:])
}
