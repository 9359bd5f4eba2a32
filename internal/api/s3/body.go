package s3

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"strata/internal/auth"
	"strata/internal/bucket"
)

// maxObjectSize is S3's limit on one PutObject or UploadPart body.
const maxObjectSize = 5 << 30

// body is a request body as it is read: decoded from aws-chunked when it
// is, and hashed for every check the request asks for. Read it to EOF,
// then call check before using what was read.
type body struct {
	r       io.Reader
	chunked *chunkedReader
	n       int64
	want    int64 // declared decoded length, or -1

	sha     hash.Hash // when X-Amz-Content-Sha256 is a digest
	wantSHA string
	md5     hash.Hash
	wantMD5 []byte // Content-MD5, or nil
	ck      declaredChecksum
	ckHash  hash.Hash
	ckValue string // computed, base64
}

// openBody prepares r's body for reading, refusing bodies over max bytes.
func openBody(r *http.Request, c *caller, max int64) (*body, error) {
	b := &body{want: -1, md5: md5.New()}
	var err error
	if b.ck, err = parseChecksumHeaders(r.Header); err != nil {
		return nil, err
	}
	if v := r.Header.Get("Content-MD5"); v != "" {
		d, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(d) != md5.Size {
			return nil, s3err(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
		}
		b.wantMD5 = d
	}
	if b.ck.alg != "" {
		b.ckHash = checksumAlgs[b.ck.alg].new()
	}
	var src io.Reader = http.NoBody
	if r.Body != nil {
		src = r.Body
	}
	if c.streaming() {
		enc := r.Header.Values("Content-Encoding")
		if !strings.Contains(strings.Join(enc, ","), "aws-chunked") && r.Header.Get("X-Amz-Decoded-Content-Length") == "" {
			return nil, errInvalidArgument("A streaming x-amz-content-sha256 needs Content-Encoding: aws-chunked.")
		}
		if v := r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, errInvalidArgument("x-amz-decoded-content-length must be a non-negative integer.")
			}
			b.want = n
		} else if c.mode != modeUnsignedTrailer {
			return nil, s3err(411, "MissingContentLength", "You must provide the x-amz-decoded-content-length HTTP header.")
		}
		trailer := ""
		if b.ck.trailer {
			trailer = checksumAlgs[b.ck.alg].header
		} else if c.mode == modeStreamingTrailer || c.mode == modeUnsignedTrailer {
			if r.Header.Get("X-Amz-Trailer") == "" {
				return nil, errInvalidRequest("A trailer payload mode needs an x-amz-trailer header.")
			}
		}
		b.chunked = newChunkedReader(src, c.chunks, trailer, max)
		b.r = b.chunked
	} else {
		if b.ck.trailer {
			return nil, errInvalidRequest("x-amz-trailer needs an aws-chunked body.")
		}
		if r.ContentLength >= 0 {
			b.want = r.ContentLength
		}
		if isHex64(c.mode) {
			b.sha, b.wantSHA = sha256.New(), c.mode
		}
		b.r = io.LimitReader(src, max+1)
	}
	if b.want > max {
		return nil, s3err(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
			field{"ProposedSize", strconv.FormatInt(b.want, 10)}, field{"MaxSizeAllowed", strconv.FormatInt(max, 10)})
	}
	return b, nil
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.n += int64(n)
		b.md5.Write(p[:n])
		if b.sha != nil {
			b.sha.Write(p[:n])
		}
		if b.ckHash != nil {
			b.ckHash.Write(p[:n])
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		if _, ok := errors.AsType[*Error](err); !ok {
			if _, ok := errors.AsType[*auth.Error](err); !ok {
				err = errIncompleteBody // the client went away or sent garbage framing
			}
		}
	}
	return n, err
}

// check verifies what was read, after EOF: length, body hash, Content-MD5
// and checksum.
func (b *body) check(max int64) error {
	if b.n > max {
		return s3err(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	}
	if b.want >= 0 && b.n != b.want {
		return errIncompleteBody
	}
	if b.sha != nil {
		if got := hex.EncodeToString(b.sha.Sum(nil)); got != b.wantSHA {
			return s3err(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.",
				field{"ClientComputedContentSHA256", b.wantSHA}, field{"S3ComputedContentSHA256", got})
		}
	}
	if b.wantMD5 != nil && !bytes.Equal(b.md5.Sum(nil), b.wantMD5) {
		return s3err(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	if b.ckHash != nil {
		b.ckValue = base64.StdEncoding.EncodeToString(b.ckHash.Sum(nil))
		want := b.ck.value
		if b.ck.trailer {
			want = b.chunked.Trailers[checksumAlgs[b.ck.alg].header]
			if !validChecksum(b.ck.alg, want) {
				return errInvalidRequest("Value for " + checksumAlgs[b.ck.alg].header + " trailing header is invalid.")
			}
		}
		if want != b.ckValue {
			return s3err(400, "BadDigest", "The "+b.ck.alg+" you specified did not match the calculated checksum.")
		}
	}
	return nil
}

// etag is the quoted hex MD5 of the decoded body.
func (b *body) etag() string { return `"` + hex.EncodeToString(b.md5.Sum(nil)) + `"` }

// checksum is the verified checksum, if the request sent one.
func (b *body) checksum() bucket.Checksum {
	if b.ckHash == nil {
		return bucket.Checksum{}
	}
	return bucket.Checksum{Algorithm: b.ck.alg, Value: b.ckValue, Type: "FULL_OBJECT"}
}

// readAll reads a small request body (XML or JSON) whole and checks it.
func readAll(r *http.Request, c *caller, max int64) ([]byte, error) {
	b, err := openBody(r, c, max)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(b)
	if err != nil {
		return nil, err
	}
	if err := b.check(max); err != nil {
		return nil, err
	}
	return data, nil
}
