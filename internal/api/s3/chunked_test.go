package s3

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"strata/internal/auth"
)

func hmacHex(key [32]byte, s string) string {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// testChunkVerifier returns the auth.ChunkVerifier of a freshly verified
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD request.
func testChunkVerifier(t *testing.T) *auth.ChunkVerifier {
	t.Helper()
	const id, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := &auth.Verifier{Services: []string{"s3"}, Now: func() time.Time { return now },
		Lookup: func(context.Context, string) (string, error) { return secret, nil }}
	r, _ := http.NewRequest(http.MethodPut, "http://localhost/b/k", nil)
	r.Header.Set(auth.HeaderContentSHA256, modeStreaming)
	if err := auth.Sign(r, id, secret, "us-east-1", "s3", now, modeStreaming, []string{"host", "x-amz-content-sha256", "x-amz-date"}); err != nil {
		t.Fatal(err)
	}
	cred, err := v.Verify(r, "")
	if err != nil || cred.Chunks == nil {
		t.Fatalf("Verify = %+v, %v", cred, err)
	}
	return cred.Chunks
}

// signedChunks encodes data as a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body
// (chunks of size n), following the SigV4 streaming specification, with
// a signed trailer when trailer is a "name:value" line.
func signedChunks(data []byte, n int, key [32]byte, amzDate, scope, seed, trailer string) []byte {
	var b bytes.Buffer
	prev := seed
	chunk := func(p []byte) {
		h := sha256.Sum256(p)
		sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + amzDate + "\n" + scope + "\n" + prev + "\n" + auth.EmptyPayloadHash + "\n" + hex.EncodeToString(h[:])
		prev = hmacHex(key, sts)
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(p), prev)
		b.Write(p)
		if len(p) > 0 {
			b.WriteString("\r\n")
		}
	}
	for len(data) > 0 {
		k := min(n, len(data))
		chunk(data[:k])
		data = data[k:]
	}
	chunk(nil)
	if trailer != "" {
		h := sha256.Sum256([]byte(trailer + "\n"))
		sig := hmacHex(key, "AWS4-HMAC-SHA256-TRAILER\n"+amzDate+"\n"+scope+"\n"+prev+"\n"+hex.EncodeToString(h[:]))
		b.WriteString(trailer + "\r\nx-amz-trailer-signature:" + sig + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// streamingPut sends a signed aws-chunked PutObject whose body is built by
// encode from the request's seed signature.
func (f *fixture) streamingPut(t *testing.T, key, mode string, decoded int, hdr map[string]string, encode func(key [32]byte, amzDate, scope, seed string) []byte) (int, string) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPut, f.srv.URL+"/chunks/"+key, nil)
	r.Header.Set("X-Amz-Content-Sha256", mode)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(decoded))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	now := time.Now().UTC()
	signed := []string{"content-encoding", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-decoded-content-length"}
	if _, ok := hdr["X-Amz-Trailer"]; ok {
		signed = append(signed, "x-amz-trailer")
	}
	if err := auth.Sign(r, f.adminID, f.adminSK, "us-east-1", "s3", now, mode, signed); err != nil {
		t.Fatal(err)
	}
	a, _ := auth.ParseAuthorization(r.Header.Get("Authorization"))
	amzDate := r.Header.Get("X-Amz-Date")
	body := encode(auth.SigningKey(f.adminSK, a.Date, a.Region, "s3"), amzDate, a.Scope(), a.Signature)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return f.do(t, r)
}

// TestSignedChunks sends the signed aws-chunked forms (as Java and
// minio-go clients do) and damaged ones.
func TestSignedChunks(t *testing.T) {
	f := newFixture(t, false)
	c := f.client(f.adminID, f.adminSK)
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("chunks")}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80,000 bytes
	crc := crc32.ChecksumIEEE(data)
	crcB64 := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	trailerHdr := map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}
	tests := []struct {
		name     string
		mode     string
		hdr      map[string]string
		encode   func(key [32]byte, amzDate, scope, seed string) []byte
		status   int
		wantCode string
	}{
		{"signed", modeStreaming, nil, func(k [32]byte, d, s, seed string) []byte {
			return signedChunks(data, 8192, k, d, s, seed, "")
		}, 200, ""},
		{"signed-one-chunk", modeStreaming, nil, func(k [32]byte, d, s, seed string) []byte {
			return signedChunks(data, len(data), k, d, s, seed, "")
		}, 200, ""},
		{"signed-trailer", modeStreamingTrailer, trailerHdr, func(k [32]byte, d, s, seed string) []byte {
			return signedChunks(data, 10000, k, d, s, seed, "x-amz-checksum-crc32:"+crcB64)
		}, 200, ""},
		{"tampered-data", modeStreaming, nil, func(k [32]byte, d, s, seed string) []byte {
			b := signedChunks(data, 8192, k, d, s, seed, "")
			i := bytes.Index(b, []byte("\r\n0123")) + 10
			b[i] ^= 1
			return b
		}, 403, "SignatureDoesNotMatch"},
		{"wrong-seed", modeStreaming, nil, func(k [32]byte, d, s, seed string) []byte {
			return signedChunks(data, 8192, k, d, s, strings.Repeat("0", 64), "")
		}, 403, "SignatureDoesNotMatch"},
		{"wrong-trailer-checksum", modeStreamingTrailer, trailerHdr, func(k [32]byte, d, s, seed string) []byte {
			return signedChunks(data, 10000, k, d, s, seed, "x-amz-checksum-crc32:AAAAAA==")
		}, 400, "BadDigest"},
		{"forged-trailer", modeStreamingTrailer, trailerHdr, func(k [32]byte, d, s, seed string) []byte {
			b := signedChunks(data, 10000, k, d, s, seed, "x-amz-checksum-crc32:"+crcB64)
			return bytes.Replace(b, []byte(crcB64), []byte("AAAAAA=="), 1)
		}, 403, "SignatureDoesNotMatch"},
		{"truncated", modeStreaming, nil, func(k [32]byte, d, s, seed string) []byte {
			b := signedChunks(data, 8192, k, d, s, seed, "")
			return b[:len(b)-200]
		}, 400, "IncompleteBody"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.streamingPut(t, tc.name, tc.mode, len(data), tc.hdr, tc.encode)
			if status != tc.status || tc.wantCode != "" && !strings.Contains(body, "<Code>"+tc.wantCode+"</Code>") {
				t.Fatalf("status %d %s, want %d %s", status, body, tc.status, tc.wantCode)
			}
			stored, err := os.ReadFile(filepath.Join(f.data, "buckets", "chunks", tc.name))
			if tc.status != 200 {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a rejected upload is visible: %v", err)
				}
				return
			}
			if err != nil || !bytes.Equal(stored, data) {
				t.Errorf("stored %d bytes (%v), want the decoded %d", len(stored), err, len(data))
			}
		})
	}
}

func TestChunkedReader(t *testing.T) {
	tests := []struct {
		name, in, trailer, want string
		err                     string // substring of the error, "" for none
	}{
		{"two-chunks", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "", "abcde", ""},
		{"trailer", "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n", "x-amz-checksum-crc32", "abc", ""},
		{"upper-hex", "A\r\n0123456789\r\n0\r\n\r\n", "", "0123456789", ""},
		{"missing-trailer", "3\r\nabc\r\n0\r\n\r\n", "x-amz-checksum-crc32", "", "IncompleteBody"},
		{"eof-after-zero", "3\r\nabc\r\n0\r\n", "", "abc", ""},
		{"eof-in-data", "5\r\nabc", "", "", "IncompleteBody"},
		{"data-longer-than-size", "2\r\nabc\r\n0\r\n\r\n", "", "", "InvalidChunkSizeError"},
		{"bad-size", "zz\r\nabc\r\n", "", "", "InvalidChunkSizeError"},
		{"no-crlf", "3\nabc\n0\n\n", "", "", "InvalidChunkSizeError"},
		{"extension-on-unsigned", "3;chunk-signature=x\r\nabc\r\n", "", "", "InvalidChunkSizeError"},
		{"too-large", "ffffffffffffffff\r\n", "", "", "EntityTooLarge"},
		{"long-line", strings.Repeat("1", 70000), "", "", "InvalidChunkSizeError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newChunkedReader(strings.NewReader(tc.in), nil, tc.trailer, 1<<20)
			got, err := io.ReadAll(r)
			if tc.err == "" {
				if err != nil || string(got) != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %s", err, tc.err)
			}
		})
	}
}

// FuzzChunkedReader: no input makes the decoder panic, loop or return
// more data than the framing declares.
func FuzzChunkedReader(f *testing.F) {
	f.Add([]byte("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n"), false)
	f.Add([]byte("3;chunk-signature="+strings.Repeat("a", 64)+"\r\nabc\r\n0;chunk-signature="+strings.Repeat("b", 64)+"\r\n\r\n"), true)
	f.Add([]byte("0\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, in []byte, signed bool) {
		var chunks *auth.ChunkVerifier
		if signed {
			chunks = testChunkVerifier(t)
		}
		r := newChunkedReader(bytes.NewReader(in), chunks, "", 1<<16)
		got, err := io.ReadAll(r)
		if len(got) > len(in) || len(got) > 1<<16 {
			t.Fatalf("decoded %d bytes from %d", len(got), len(in))
		}
		if err != nil {
			if _, ok := errors.AsType[*Error](err); !ok {
				if _, ok := errors.AsType[*auth.Error](err); !ok {
					t.Fatalf("error %T %v is not an S3 error", err, err)
				}
			}
		}
	})
}
