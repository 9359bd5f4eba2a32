package s3

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strings"
)

// checksumAlgs are the S3 checksum algorithms strata computes, by the
// upper-case name S3 uses.
var checksumAlgs = map[string]struct {
	header string // x-amz-checksum-<alg>
	size   int    // digest bytes
	new    func() hash.Hash
}{
	"CRC32":     {"x-amz-checksum-crc32", 4, func() hash.Hash { return crc32.NewIEEE() }},
	"CRC32C":    {"x-amz-checksum-crc32c", 4, func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
	"CRC64NVME": {"x-amz-checksum-crc64nvme", 8, func() hash.Hash { return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)) }},
	"SHA1":      {"x-amz-checksum-sha1", 20, sha1.New},
	"SHA256":    {"x-amz-checksum-sha256", 32, sha256.New},
}

// algForHeader returns the algorithm of an x-amz-checksum-<alg> name.
func algForHeader(name string) (string, bool) {
	name = strings.ToLower(name)
	for alg, a := range checksumAlgs {
		if a.header == name {
			return alg, true
		}
	}
	return "", false
}

// declaredChecksum is what a request says about its body's checksum.
type declaredChecksum struct {
	alg     string // "" for none
	value   string // from the header; "" when it comes in the trailer
	trailer bool
}

// parseChecksumHeaders reads the x-amz-checksum-*, x-amz-trailer and
// x-amz-sdk-checksum-algorithm headers, following S3's rules: at most one
// checksum, not both a header and a trailer, the SDK's algorithm equal to
// the one sent, and a well-formed value.
func parseChecksumHeaders(hdr http.Header) (declaredChecksum, error) {
	var d declaredChecksum
	for name := range hdr {
		lname := strings.ToLower(name)
		if !strings.HasPrefix(lname, "x-amz-checksum-") || lname == "x-amz-checksum-type" || lname == "x-amz-checksum-algorithm" || lname == "x-amz-checksum-mode" {
			continue
		}
		alg, ok := algForHeader(lname)
		if !ok {
			return d, errInvalidRequest("The " + lname + " checksum is not supported; use CRC32, CRC32C, CRC64NVME, SHA1 or SHA256.")
		}
		if d.alg != "" {
			return d, errInvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		d.alg, d.value = alg, hdr.Get(name)
		if !validChecksum(alg, d.value) {
			return d, errInvalidRequest("Value for " + lname + " header is invalid.")
		}
	}
	if tr := strings.TrimSpace(hdr.Get("X-Amz-Trailer")); tr != "" {
		if d.alg != "" {
			return d, errInvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		alg, ok := algForHeader(tr)
		if !ok {
			return d, errInvalidRequest("The value specified in the x-amz-trailer header is not supported.")
		}
		d.alg, d.trailer = alg, true
	}
	if sdk := hdr.Get("X-Amz-Sdk-Checksum-Algorithm"); sdk != "" && d.alg != "" && !strings.EqualFold(sdk, d.alg) {
		return d, errInvalidRequest("Value for x-amz-sdk-checksum-algorithm header is invalid.")
	}
	return d, nil
}

// validChecksum reports whether v is a base64 digest of alg's size.
func validChecksum(alg, v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == checksumAlgs[alg].size
}

// checksums are the checksum elements of S3's XML results and of the parts
// a CompleteMultipartUpload lists, one per algorithm.
type checksums struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
}

// field returns the element of algorithm alg, or nil for an unknown one.
func (c *checksums) field(alg string) *string {
	switch alg {
	case "CRC32":
		return &c.ChecksumCRC32
	case "CRC32C":
		return &c.ChecksumCRC32C
	case "CRC64NVME":
		return &c.ChecksumCRC64NVME
	case "SHA1":
		return &c.ChecksumSHA1
	case "SHA256":
		return &c.ChecksumSHA256
	}
	return nil
}

// set sets the element of algorithm alg, if it is a known one.
func (c *checksums) set(alg, v string) {
	if f := c.field(alg); f != nil {
		*f = v
	}
}

// checksum returns the element of algorithm alg, or "".
func (c checksums) checksum(alg string) string {
	if f := c.field(alg); f != nil {
		return *f
	}
	return ""
}
