package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The AWS example of a signed aws-chunked upload (S3 API reference,
// "Signature calculations for the Authorization header: transferring
// payload in multiple chunks"): 66560 bytes of 'a' as chunks of 65536,
// 1024 and 0 bytes.
const (
	exampleSeed   = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	exampleChunk1 = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
	exampleChunk2 = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
	exampleFinal  = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
)

var exampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

// exampleVerifier verifies the AWS examples: their key, at their time.
func exampleVerifier() *Verifier {
	v := testVerifier()
	v.Now = func() time.Time { return exampleTime.Add(time.Minute) }
	v.Regions = []string{"us-east-1"}
	return v
}

// exampleStreamingRequest is the request of the AWS chunked-upload example.
func exampleStreamingRequest() *http.Request {
	r, _ := http.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", nil)
	r.ContentLength = 66824
	r.Header.Set(HeaderDate, "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set(HeaderContentSHA256, StreamingPayload)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set(HeaderAuthorization, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
		"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"+
		"Signature="+exampleSeed)
	return r
}

func sumOf(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// TestChunkVerifierAWSExample verifies AWS's published seed and chunk
// signatures, and that a changed chunk or signature fails for good.
func TestChunkVerifierAWSExample(t *testing.T) {
	chunk1, chunk2 := strings.Repeat("a", 65536), strings.Repeat("a", 1024)
	tests := []struct {
		name   string
		chunks []string // data
		sigs   []string
		fail   int // index of the first chunk that must fail, -1 for none
	}{
		{"published", []string{chunk1, chunk2, ""}, []string{exampleChunk1, exampleChunk2, exampleFinal}, -1},
		{"changed-data", []string{chunk1, chunk2[1:] + "b", ""}, []string{exampleChunk1, exampleChunk2, exampleFinal}, 1},
		{"reordered", []string{chunk2, chunk1, ""}, []string{exampleChunk2, exampleChunk1, exampleFinal}, 0},
		{"upper-case-signature", []string{chunk1}, []string{strings.ToUpper(exampleChunk1)}, 0},
		{"short-signature", []string{chunk1}, []string{exampleChunk1[:63]}, 0},
		{"chunk-missing", []string{chunk1, ""}, []string{exampleChunk1, exampleFinal}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := exampleVerifier().Verify(exampleStreamingRequest(), "")
			if err != nil {
				t.Fatalf("Verify of the seed: %v", err)
			}
			if c.Chunks == nil || c.Service != "s3" || c.AccessKeyID != testKeyID {
				t.Fatalf("credential = %+v", c)
			}
			for i, data := range tc.chunks {
				err := c.Chunks.VerifyChunk(sumOf(data), tc.sigs[i])
				if tc.fail >= 0 && i >= tc.fail {
					if KindOf(err) != KindBadSignature {
						t.Fatalf("chunk %d: %v, want bad-signature", i, err)
					}
					// Once failed, even the right signature fails.
					if err := c.Chunks.VerifyChunk(sumOf(chunk1), exampleChunk1); err == nil {
						t.Fatal("a failed chain verified again")
					}
					return
				}
				if err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
			}
			if tc.fail >= 0 {
				t.Fatalf("no chunk failed, want %d", tc.fail)
			}
		})
	}
}

// chainSigner computes aws-chunked signatures independently of
// ChunkVerifier, from the specification.
type chainSigner struct {
	key        [32]byte
	date, scop string
	prev       string
}

func (s *chainSigner) sign(algorithm, tail string) string {
	m := hmac.New(sha256.New, s.key[:])
	fmt.Fprintf(m, "%s\n%s\n%s\n%s\n%s", algorithm, s.date, s.scop, s.prev, tail)
	s.prev = hex.EncodeToString(m.Sum(nil))
	return s.prev
}

func (s *chainSigner) chunk(data string) string {
	h := sumOf(data)
	return s.sign("AWS4-HMAC-SHA256-PAYLOAD", EmptyPayloadHash+"\n"+hex.EncodeToString(h[:]))
}

func (s *chainSigner) trailer(trailer string) string {
	h := sumOf(trailer)
	return s.sign("AWS4-HMAC-SHA256-TRAILER", hex.EncodeToString(h[:]))
}

// streamingRequest signs a PUT for service s3 with payload mode mode.
func streamingRequest(t testing.TB, mode string) (*http.Request, *chainSigner) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPut, "http://localhost/bucket/key", nil)
	r.Header.Set(HeaderContentSHA256, mode)
	r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	if err := Sign(r, testKeyID, testSecret, testRegion, "s3", testNow, mode,
		[]string{"host", "x-amz-content-sha256", "x-amz-date", "x-amz-trailer"}); err != nil {
		t.Fatal(err)
	}
	a, err := ParseAuthorization(r.Header.Get(HeaderAuthorization))
	if err != nil {
		t.Fatal(err)
	}
	return r, &chainSigner{key: SigningKey(testSecret, a.Date, a.Region, "s3"), date: r.Header.Get(HeaderDate), scop: a.Scope(), prev: a.Signature}
}

func TestChunkVerifierTrailer(t *testing.T) {
	const trailer = "x-amz-checksum-crc32:NSRBwg==\n"
	tests := []struct {
		name    string
		trailer string // as verified
		forge   bool   // sign another trailer
		kind    Kind
	}{
		{"signed", trailer, false, 0},
		{"changed-trailer", "x-amz-checksum-crc32:AAAAAA==\n", false, KindBadSignature},
		{"missing-signature", trailer, true, KindBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, s := streamingRequest(t, StreamingPayloadTrailer)
			c, err := testVerifier().Verify(r, "")
			if err != nil || c.Chunks == nil {
				t.Fatalf("Verify = %+v, %v", c, err)
			}
			for _, data := range []string{"abc", ""} {
				if err := c.Chunks.VerifyChunk(sumOf(data), s.chunk(data)); err != nil {
					t.Fatal(err)
				}
			}
			sig := s.trailer(trailer)
			if tc.forge {
				sig = ""
			}
			if err := c.Chunks.VerifyTrailer(tc.trailer, sig); KindOf(err) != tc.kind {
				t.Fatalf("VerifyTrailer = %v, want kind %v", err, tc.kind)
			}
			if tc.kind == 0 {
				// The trailer ends the body.
				if err := c.Chunks.VerifyChunk(sumOf(""), s.chunk("")); err == nil {
					t.Fatal("a chunk after the trailer verified")
				}
			}
		})
	}
}

// TestChunkVerifierFormatHidesKey checks that printing a credential or its
// ChunkVerifier shows neither the secret nor the signing key.
func TestChunkVerifierFormatHidesKey(t *testing.T) {
	r, s := streamingRequest(t, StreamingPayload)
	c, err := testVerifier().Verify(r, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v"} {
		for _, v := range []any{c, &c, c.Chunks, *c.Chunks} {
			out := fmt.Sprintf(format, v)
			if strings.Contains(out, testSecret) || strings.Contains(out, hex.EncodeToString(s.key[:])) ||
				strings.Contains(out, fmt.Sprint(s.key)) || strings.Contains(out, fmt.Sprintf("%#v", s.key)) ||
				strings.Contains(out, fmt.Sprint(s.key[:])) {
				t.Errorf("%s of %T reveals the key: %s", format, v, out)
			}
		}
	}
}

// FuzzChunkVerifier checks that VerifyChunk and VerifyTrailer accept
// exactly the signatures the specification gives, and never panic on
// what clients send.
func FuzzChunkVerifier(f *testing.F) {
	f.Add([]byte("abc"), "", false, "x-amz-checksum-crc32:NSRBwg==\n", "")
	f.Add([]byte(""), strings.Repeat("0", 64), true, "", strings.Repeat("g", 64))
	f.Add([]byte("abc"), exampleChunk1, false, "a:b\n", "sig")
	f.Fuzz(func(t *testing.T, data []byte, sig string, useSig bool, trailer, trailerSig string) {
		r, s := streamingRequest(t, StreamingPayloadTrailer)
		c, err := testVerifier().Verify(r, "")
		if err != nil {
			t.Fatal(err)
		}
		good := s.chunk(string(data))
		if !useSig {
			sig = good
		}
		err = c.Chunks.VerifyChunk(sumOf(string(data)), sig)
		if (err == nil) != (sig == good) {
			t.Fatalf("VerifyChunk(%q) = %v; signature is %q", sig, err, good)
		}
		if err != nil {
			if KindOf(err) != KindBadSignature || strings.Contains(err.Error(), good) {
				t.Fatalf("error %v", err)
			}
			return
		}
		goodTrailer := s.trailer(trailer)
		err = c.Chunks.VerifyTrailer(trailer, trailerSig)
		if (err == nil) != (trailerSig == goodTrailer) {
			t.Fatalf("VerifyTrailer(%q) = %v", trailerSig, err)
		}
		if err != nil && KindOf(err) != KindBadSignature {
			t.Fatalf("VerifyTrailer error %v", err)
		}
	})
}

// TestVerifyPayloadModes covers X-Amz-Content-Sha256's modes: which
// services and calls accept them, and which return a ChunkVerifier.
func TestVerifyPayloadModes(t *testing.T) {
	tests := []struct {
		name      string
		service   string
		mode      string // "" omits the header
		unsigned  bool   // leave x-amz-content-sha256 out of SignedHeaders
		hash      string // Verify's payloadHash
		kind      Kind
		sentinel  bool // the failure wraps ErrUnsupportedPayload
		wantChunk bool
	}{
		{name: "s3-streaming", service: "s3", mode: StreamingPayload, wantChunk: true},
		{name: "s3-streaming-trailer", service: "s3", mode: StreamingPayloadTrailer, wantChunk: true},
		{name: "s3-unsigned-trailer", service: "s3", mode: StreamingUnsignedPayloadTrailer},
		{name: "s3-unsigned", service: "s3", mode: UnsignedPayload},
		{name: "s3-hex", service: "s3", mode: EmptyPayloadHash},
		{name: "s3-hex-checked", service: "s3", mode: EmptyPayloadHash, hash: EmptyPayloadHash},
		{name: "s3-no-header-hash-given", service: "s3", hash: EmptyPayloadHash},
		{name: "s3-no-header-streamed", service: "s3", kind: KindMalformed, sentinel: true},
		{name: "s3-empty-header", service: "s3", mode: " ", kind: KindMalformed, sentinel: true},
		{name: "s3-streaming-with-hash", service: "s3", mode: StreamingPayload, hash: EmptyPayloadHash, kind: KindMalformed, sentinel: true},
		{name: "s3-streaming-header-not-signed", service: "s3", mode: StreamingPayload, unsigned: true, kind: KindMalformed},
		{name: "s3-sigv4a", service: "s3", mode: "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", kind: KindMalformed, sentinel: true},
		{name: "s3-upper-hex", service: "s3", mode: strings.ToUpper(EmptyPayloadHash), kind: KindMalformed, sentinel: true},
		{name: "bedrock-streaming", service: "bedrock", mode: StreamingPayload, kind: KindMalformed, sentinel: true},
		{name: "bedrock-unsigned-trailer", service: "bedrock", mode: StreamingUnsignedPayloadTrailer, kind: KindMalformed, sentinel: true},
		{name: "bedrock-unsigned", service: "bedrock", mode: UnsignedPayload, hash: EmptyPayloadHash, kind: KindMalformed, sentinel: true},
		{name: "bedrock-no-header-no-hash", service: "bedrock", kind: KindInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPut, "http://localhost/bucket/key", nil)
			signed := []string{"host", "x-amz-date"}
			if tc.mode != "" {
				r.Header.Set(HeaderContentSHA256, tc.mode)
				if !tc.unsigned {
					signed = append(signed, "x-amz-content-sha256")
				}
			}
			if err := Sign(r, testKeyID, testSecret, testRegion, tc.service, testNow, cmpOr(tc.mode, EmptyPayloadHash), signed); err != nil {
				t.Fatal(err)
			}
			c, err := testVerifier().Verify(r, tc.hash)
			if KindOf(err) != tc.kind || errors.Is(err, ErrUnsupportedPayload) != tc.sentinel {
				t.Fatalf("Verify = %v, want kind %v (unsupported payload: %v)", err, tc.kind, tc.sentinel)
			}
			if (c.Chunks != nil) != tc.wantChunk {
				t.Fatalf("Chunks = %v, want one: %v", c.Chunks, tc.wantChunk)
			}
		})
	}
	// VerifyRequest hashes the body itself, so it never takes aws-chunked.
	r, _ := streamingRequest(t, StreamingPayload)
	if _, _, err := testVerifier().VerifyRequest(r, 1<<20); !errors.Is(err, ErrUnsupportedPayload) {
		t.Fatalf("VerifyRequest of an aws-chunked request: %v", err)
	}
}

// FuzzVerifyPayloadMode signs an s3 request with any X-Amz-Content-Sha256
// and checks that Verify accepts exactly the modes S3 defines.
func FuzzVerifyPayloadMode(f *testing.F) {
	for _, m := range []string{StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer, UnsignedPayload,
		EmptyPayloadHash, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "", "streaming-aws4-hmac-sha256-payload"} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, mode string) {
		r, _ := http.NewRequest(http.MethodPut, "http://localhost/bucket/key", nil)
		r.Header[HeaderContentSHA256] = []string{mode}
		if err := Sign(r, testKeyID, testSecret, testRegion, "s3", testNow, mode, []string{"host", "x-amz-content-sha256", "x-amz-date"}); err != nil {
			t.Fatal(err)
		}
		c, err := testVerifier().Verify(r, "")
		streaming := mode == StreamingPayload || mode == StreamingPayloadTrailer || mode == StreamingUnsignedPayloadTrailer
		valid := streaming || mode == UnsignedPayload || isLowerHex(mode, 64)
		if (err == nil) != valid {
			t.Fatalf("Verify(%q) = %v", mode, err)
		}
		if err != nil && (KindOf(err) != KindMalformed || !errors.Is(err, ErrUnsupportedPayload)) {
			t.Fatalf("Verify(%q) = %v, want malformed, unsupported payload", mode, err)
		}
		if (c.Chunks != nil) != (streaming && mode != StreamingUnsignedPayloadTrailer) {
			t.Fatalf("Verify(%q): Chunks %v", mode, c.Chunks)
		}
	})
}

func TestVerifyRegions(t *testing.T) {
	tests := []struct {
		name    string
		regions []string
		kind    Kind
	}{
		{"any", nil, 0},
		{"served", []string{"eu-west-1", testRegion}, 0},
		{"other", []string{"eu-west-1"}, KindWrongRegion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := testVerifier()
			v.Regions = tc.regions
			r := sdkRequest{method: "GET", url: "http://localhost/bucket/key", service: "s3",
				headers: map[string]string{HeaderContentSHA256: EmptyPayloadHash}}.sign(t)
			_, err := v.Verify(r, "")
			if KindOf(err) != tc.kind {
				t.Fatalf("Verify = %v, want kind %v", err, tc.kind)
			}
			if tc.kind != 0 && !strings.Contains(err.Error(), "'us-east-1' is wrong; expecting 'eu-west-1'") {
				t.Errorf("message %q", err)
			}
		})
	}
}
