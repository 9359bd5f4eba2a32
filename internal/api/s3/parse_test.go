package s3

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		name, h         string
		size            int64
		start, end      int64
		ok, satisfiable bool
	}{
		{"closed", "bytes=2-9", 100, 2, 9, true, true},
		{"open", "bytes=90-", 100, 90, 99, true, true},
		{"suffix", "bytes=-10", 100, 90, 99, true, true},
		{"suffix-longer-than-object", "bytes=-500", 100, 0, 99, true, true},
		{"end-clamped", "bytes=0-5242879", 100, 0, 99, true, true},
		{"start-past-end", "bytes=100-", 100, 0, 0, true, false},
		{"empty-object", "bytes=0-", 0, 0, 0, true, false},
		{"zero-suffix", "bytes=-0", 100, 0, 0, true, false},
		{"multi-range-ignored", "bytes=0-1,3-4", 100, 0, 0, false, false},
		{"reversed-ignored", "bytes=9-2", 100, 0, 0, false, false},
		{"junk-ignored", "bytes=a-b", 100, 0, 0, false, false},
		{"other-unit-ignored", "items=0-1", 100, 0, 0, false, false},
		{"signed-ignored", "bytes=+1-2", 100, 0, 0, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, e, ok, sat := parseRange(tc.h, tc.size)
			if ok != tc.ok || sat != tc.satisfiable || sat && (s != tc.start || e != tc.end) {
				t.Fatalf("parseRange(%q, %d) = %d %d %v %v", tc.h, tc.size, s, e, ok, sat)
			}
		})
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=2-9", "bytes=-10", "bytes=5-", "bytes=0-1,2-3", "bytes=99999999999999999999-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			return
		}
		s, e, ok, sat := parseRange(h, size)
		if sat && (!ok || s < 0 || s > e || e >= size) {
			t.Fatalf("parseRange(%q, %d) = %d-%d", h, size, s, e)
		}
	})
}

func TestParseCopySource(t *testing.T) {
	tests := []struct{ in, bucket, key, err string }{
		{"bkt/a/b.txt", "bkt", "a/b.txt", ""},
		{"/bkt/a%20b.txt", "bkt", "a b.txt", ""},
		{"bkt/100%", "bkt", "100%", ""}, // sent unencoded: taken raw
		{"bkt/k?versionId=null", "bkt", "k", ""},
		{"bkt/k?versionId=abc", "", "", "NotImplemented"},
		{"bkt", "", "", "InvalidArgument"},
		{"/bkt/", "", "", "InvalidArgument"},
		{"", "", "", "InvalidArgument"},
	}
	for _, tc := range tests {
		b, k, err := parseCopySource(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseCopySource(%q) = %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || b != tc.bucket || k != tc.key {
			t.Errorf("parseCopySource(%q) = %q %q %v", tc.in, b, k, err)
		}
	}
}

func FuzzParseCopySource(f *testing.F) {
	for _, s := range []string{"bkt/a/b", "/bkt/a%2Fb", "bkt/k?versionId=null", "%zz/%", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, k, err := parseCopySource(s)
		if err != nil {
			mustBeS3Error(t, err)
			return
		}
		if b == "" || k == "" {
			t.Fatalf("parseCopySource(%q) = %q %q", s, b, k)
		}
	})
}

func mustBeS3Error(t *testing.T, err error) {
	t.Helper()
	e, ok := errors.AsType[*Error](err)
	if !ok || e.Status < 400 || e.Status >= 500 && e.Code != "NotImplemented" {
		t.Fatalf("error %v is not a client S3 error", err)
	}
}

func TestParseComplete(t *testing.T) {
	good := `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>&#34;abc&#34;</ETag><PartNumber>1</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part><Part><ETag>"def"</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>`
	c, err := parseComplete([]byte(good))
	if err != nil || len(c.Parts) != 2 || c.Parts[0].ETag != `"abc"` || c.Parts[1].PartNumber != 3 || c.Parts[0].ChecksumCRC32 != "AAAAAA==" {
		t.Fatalf("parseComplete = %+v, %v", c, err)
	}
	for name, bad := range map[string]string{
		"InvalidPartOrder": `<CompleteMultipartUpload><Part><PartNumber>2</PartNumber></Part><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`,
		"MalformedXML":     `<CompleteMultipartUpload></CompleteMultipartUpload>`,
		"InvalidArgument":  `<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber></Part></CompleteMultipartUpload>`,
	} {
		if _, err := parseComplete([]byte(bad)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("parseComplete(%s) = %v, want %s", bad, err, name)
		}
	}
	if _, err := parseComplete([]byte("<Other/>")); err == nil {
		t.Error("parseComplete accepted another root element")
	}
}

func FuzzParseComplete(f *testing.F) {
	f.Add([]byte(`<CompleteMultipartUpload><Part><ETag>"a"</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber></Part>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseComplete(data)
		if err != nil {
			mustBeS3Error(t, err)
			return
		}
		for i, p := range c.Parts {
			if p.PartNumber < 1 || p.PartNumber > maxPartNumber || i > 0 && p.PartNumber <= c.Parts[i-1].PartNumber {
				t.Fatalf("accepted parts %+v", c.Parts)
			}
		}
	})
}

func FuzzParseDelete(f *testing.F) {
	f.Add([]byte(`<Delete><Object><Key>a</Key></Object><Quiet>true</Quiet></Delete>`))
	f.Add([]byte(`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key><VersionId>null</VersionId></Object></Delete>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseDelete(data)
		if err != nil {
			mustBeS3Error(t, err)
			return
		}
		if len(d.Objects) == 0 || len(d.Objects) > 1000 {
			t.Fatalf("accepted %d objects", len(d.Objects))
		}
	})
}

func TestListParams(t *testing.T) {
	q := url.Values{"prefix": {"a/"}, "max-keys": {"5000"}, "continuation-token": {continuationToken("a/b/", true)}}
	p, err := parseListParams(q, false)
	if err != nil || p.maxKeys != 1000 || p.after != "a/b/" || !p.afterPrefix {
		t.Fatalf("parseListParams = %+v, %v", p, err)
	}
	for _, bad := range []url.Values{{"max-keys": {"-1"}}, {"max-keys": {"x"}}, {"encoding-type": {"base64"}}, {"continuation-token": {"!!"}}, {"continuation-token": {"eA"}}} {
		if _, err := parseListParams(bad, false); err == nil {
			t.Errorf("parseListParams(%v) accepted", bad)
		}
	}
}

func FuzzListParams(f *testing.F) {
	f.Add("a/", "/", continuationToken("a/x", false), "10", "url", false)
	f.Add("", "", "cGZvbw", "0", "", false)
	f.Add("m/", "/", "m/z/", "1", "url", true)
	f.Fuzz(func(t *testing.T, prefix, delim, token, maxKeys, enc string, v1 bool) {
		q := url.Values{"prefix": {prefix}, "delimiter": {delim}, "continuation-token": {token}, "marker": {token}, "max-keys": {maxKeys}, "encoding-type": {enc}}
		p, err := parseListParams(q, v1)
		if err != nil {
			mustBeS3Error(t, err)
			return
		}
		if p.maxKeys < 0 || p.maxKeys > 1000 || p.enc == nil {
			t.Fatalf("maxKeys %d, encoder %v", p.maxKeys, p.enc != nil)
		}
		if v1 {
			// The marker is where listing continues, a common prefix when
			// it has the shape of one.
			if p.after != token || p.afterPrefix && (delim == "" || !strings.HasPrefix(token, prefix) || !strings.HasSuffix(token, delim)) {
				t.Fatalf("marker %q (prefix %q, delimiter %q): after %q, prefix %v", token, prefix, delim, p.after, p.afterPrefix)
			}
			return
		}
		if token != "" {
			// A token re-encoded from what it decoded to means the same.
			again, err := parseListParams(url.Values{"continuation-token": {continuationToken(p.after, p.afterPrefix)}}, false)
			if err != nil || again.after != p.after || again.afterPrefix != p.afterPrefix {
				t.Fatalf("token %q: re-encoded gives %+v, %v", token, again, err)
			}
		}
	})
}

func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"/", "/bkt", "/bkt/", "/bkt/a/b%20c", "/bkt/%zz", "/b%2Fk/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		b, k, err := splitPath(raw)
		if err != nil {
			mustBeS3Error(t, err)
			return
		}
		if strings.Contains(b, "/") && !strings.Contains(raw, "%") {
			t.Fatalf("splitPath(%q) bucket %q", raw, b)
		}
		_ = k
	})
}

func FuzzChecksumHeaders(f *testing.F) {
	f.Add("x-amz-checksum-crc32", "AAAAAA==", "", "CRC32")
	f.Add("x-amz-checksum-sha256", "bad", "x-amz-checksum-crc32", "")
	f.Add("x-amz-checksum-xxhash3", "AAAAAAAAAAA=", "", "")
	f.Fuzz(func(t *testing.T, name, value, trailer, sdk string) {
		h := http.Header{}
		h.Set(name, value)
		if trailer != "" {
			h.Set("X-Amz-Trailer", trailer)
		}
		if sdk != "" {
			h.Set("X-Amz-Sdk-Checksum-Algorithm", sdk)
		}
		d, err := parseChecksumHeaders(h)
		if err != nil {
			mustBeS3Error(t, err)
			return
		}
		if d.alg != "" && !d.trailer && !validChecksum(d.alg, d.value) {
			t.Fatalf("accepted %s=%q", d.alg, d.value)
		}
	})
}

func TestIsS3(t *testing.T) {
	tests := []struct {
		name, authz, query string
		want               bool
	}{
		{"s3-header", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x", "", true},
		{"bedrock-header", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=x", "", false},
		{"s3-in-key-id", "AWS4-HMAC-SHA256 Credential=s3/20260101/us-east-1/sts/aws4_request, SignedHeaders=host", "", false},
		{"presigned", "", "X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x", true},
		{"bearer", "Bearer sk-strata-x", "", false},
		{"none", "", "prefix=s3", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "http://h/model/x?"+tc.query, nil)
			if tc.authz != "" {
				r.Header.Set("Authorization", tc.authz)
			}
			if got := IsS3(r); got != tc.want {
				t.Fatalf("IsS3 = %v", got)
			}
		})
	}
}

func FuzzIsS3(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x", "")
	f.Add("", "X-Amz-Credential=a%2Fb%2Fc%2Fs3%2Fd")
	f.Fuzz(func(t *testing.T, authz, query string) {
		r := &http.Request{Header: http.Header{}, URL: &url.URL{Path: "/", RawQuery: query}}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if IsS3(r) && authz != "" && !strings.Contains(authz, "/s3/") {
			t.Fatalf("IsS3 for %q", authz)
		}
		// scopeService agrees with the plain split it replaces.
		want := ""
		if parts := strings.Split(strings.TrimSpace(authz), "/"); len(parts) == 5 {
			want = parts[3]
		}
		if got := scopeService(authz); got != want {
			t.Fatalf("scopeService(%q) = %q, want %q", authz, got, want)
		}
	})
}
