package s3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"strata/internal/blob"
)

// cut says how the proxy breaks one connection: after passing the
// response header and after bytes of the body, it closes the connection
// to the client with a reset (reset) or a clean FIN (a body cut short of
// its Content-Length).
type cut struct {
	after int64
	reset bool
}

// cutProxy is a loopback TCP proxy in front of an S3 server that breaks
// the first len(cuts) connections mid-body and passes later ones through.
type cutProxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	cuts   []cut
	// onCut, if set, runs after the i-th cut's bytes went out and before
	// the connection is closed.
	onCut func(i int)

	n      atomic.Int32 // connections accepted
	cutN   atomic.Int32 // connections cut
	mu     sync.Mutex
	opened []net.Conn
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, endpoint string, cuts ...cut) *cutProxy {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, ln: ln, target: u.Host, cuts: cuts}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.opened {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) track(c net.Conn) {
	p.mu.Lock()
	p.opened = append(p.opened, c)
	p.mu.Unlock()
}

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		i := int(p.n.Add(1)) - 1
		p.track(c)
		p.wg.Go(func() { p.serve(c, i) })
	}
}

func (p *cutProxy) serve(c net.Conn, i int) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		p.t.Errorf("proxy: dialing %s: %v", p.target, err)
		return
	}
	p.track(s)
	defer s.Close()
	p.wg.Go(func() {
		io.Copy(s, c)
		s.(*net.TCPConn).CloseWrite()
	})
	if i >= len(p.cuts) {
		io.Copy(c, s)
		return
	}
	// Pass the status line and headers, then cut.after bytes of the body.
	br := bufio.NewReader(s)
	for {
		line, err := br.ReadString('\n')
		if _, werr := io.WriteString(c, line); err != nil || werr != nil {
			return
		}
		if line == "\r\n" {
			break
		}
	}
	if _, err := io.CopyN(c, br, p.cuts[i].after); err != nil {
		return
	}
	p.cutN.Add(1)
	if p.onCut != nil {
		p.onCut(i)
	}
	if p.cuts[i].reset {
		c.(*net.TCPConn).SetLinger(0) // Close sends RST
	}
}

// recordingAPI records the GetObject requests a Store makes and their
// errors.
type recordingAPI struct {
	API
	mu   sync.Mutex
	gets []*awss3.GetObjectInput
	errs []error
}

func (r *recordingAPI) GetObject(ctx context.Context, in *awss3.GetObjectInput, opts ...func(*awss3.Options)) (*awss3.GetObjectOutput, error) {
	out, err := r.API.GetObject(ctx, in, opts...)
	r.mu.Lock()
	r.gets = append(r.gets, in)
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	return out, err
}

func (r *recordingAPI) calls() ([]*awss3.GetObjectInput, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slicesClone(r.gets), slicesClone(r.errs)
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

// randomBytes returns n bytes that do not repeat, so a splice at any wrong
// offset shows.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// proxiedStore returns a Store over bucket that reaches sv through p, with
// its GetObject calls recorded, and a short backoff.
func proxiedStore(t *testing.T, p *cutProxy, bucket string, o Options) (*Store, *recordingAPI) {
	t.Helper()
	api := &recordingAPI{API: newClient(t, p.url())}
	o.Bucket = bucket
	s, err := New(api, o)
	if err != nil {
		t.Fatal(err)
	}
	s.resumeBackoff = time.Millisecond
	return s, api
}

// readAll reads the object through Get.
func readAll(t *testing.T, ctx context.Context, s *Store, key string) ([]byte, error) {
	t.Helper()
	rc, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

const resumeSize = 24<<20 + 12345

// testResume reads a multi-MB object through a proxy that breaks the
// first two connections, one with a reset and one with a clean close short
// of the Content-Length.
func testResume(t *testing.T, sv *server) {
	direct := sv.newStore(t, Options{})
	want := randomBytes(1, resumeSize)
	if _, err := direct.Put(t.Context(), "model/shard", bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	head, err := sv.client.HeadObject(t.Context(), &awss3.HeadObjectInput{Bucket: aws.String(direct.bucket), Key: aws.String("model/shard")})
	if err != nil {
		t.Fatal(err)
	}
	cuts := []cut{{after: 3<<20 + 17, reset: true}, {after: 5<<20 + 1, reset: false}}

	t.Run("resumed", func(t *testing.T) {
		p := newCutProxy(t, sv.endpoint, cuts...)
		s, api := proxiedStore(t, p, direct.bucket, Options{})
		got, err := readAll(t, t.Context(), s, "model/shard")
		if err != nil {
			t.Fatalf("read %d of %d bytes: %v", len(got), len(want), err)
		}
		if len(got) != len(want) || sha256.Sum256(got) != sha256.Sum256(want) {
			t.Fatalf("read %d bytes, sha256 %x; want %d bytes, sha256 %x", len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
		}
		if p.cutN.Load() != 2 {
			t.Errorf("the proxy cut %d connections, want 2", p.cutN.Load())
		}
		gets, _ := api.calls()
		if len(gets) != 3 {
			t.Fatalf("%d GetObject calls, want 3 (the first, two resumptions)", len(gets))
		}
		if gets[0].Range != nil || gets[0].IfMatch != nil {
			t.Errorf("first GetObject has Range %v, If-Match %v", aws.ToString(gets[0].Range), aws.ToString(gets[0].IfMatch))
		}
		prev := int64(0)
		for _, in := range gets[1:] {
			var off int64
			if _, err := fmt.Sscanf(aws.ToString(in.Range), "bytes=%d-", &off); err != nil || off <= prev || off > int64(len(want)) {
				t.Errorf("resumed with Range %q after offset %d", aws.ToString(in.Range), prev)
			}
			prev = off
			if aws.ToString(in.IfMatch) != aws.ToString(head.ETag) {
				t.Errorf("resumed with If-Match %q, want the ETag %q", aws.ToString(in.IfMatch), aws.ToString(head.ETag))
			}
		}
	})

	// The same cuts break a read that may not resume: the test above would
	// fail on a Get that returns the SDK's body as it is.
	t.Run("fails-without-resumption", func(t *testing.T) {
		p := newCutProxy(t, sv.endpoint, cuts...)
		s, api := proxiedStore(t, p, direct.bucket, Options{GetResumes: -1})
		got, err := readAll(t, t.Context(), s, "model/shard")
		if err == nil || len(got) >= len(want) {
			t.Fatalf("read %d of %d bytes, error %v; want a failure", len(got), len(want), err)
		}
		if !bytes.Equal(got, want[:len(got)]) {
			t.Errorf("the bytes read before the failure are not the object's")
		}
		if gets, _ := api.calls(); len(gets) != 1 {
			t.Errorf("%d GetObject calls, want 1", len(gets))
		}
	})

	// What the SDK does with a body closed cleanly before its
	// Content-Length: io.ErrUnexpectedEOF, which must not read as the end.
	t.Run("short-body-is-an-error", func(t *testing.T) {
		p := newCutProxy(t, sv.endpoint, cut{after: 1 << 20})
		s, _ := proxiedStore(t, p, direct.bucket, Options{GetResumes: -1})
		got, err := readAll(t, t.Context(), s, "model/shard")
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 1<<20 {
			t.Fatalf("read %d bytes, error %v; want %d bytes and io.ErrUnexpectedEOF", len(got), err, 1<<20)
		}
	})
}

// testResumeChanged replaces (or deletes) the object between the cut and
// the resumption: the read fails with ErrChanged after bytes of the old
// object only.
func testResumeChanged(t *testing.T, sv *server) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, s *Store, key string)
	}{
		{"replaced", func(t *testing.T, s *Store, key string) {
			if _, err := s.Put(context.Background(), key, bytes.NewReader(randomBytes(3, resumeSize))); err != nil {
				t.Error(err)
			}
		}},
		{"deleted", func(t *testing.T, s *Store, key string) {
			if err := s.Delete(context.Background(), key); err != nil {
				t.Error(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			direct := sv.newStore(t, Options{})
			old := randomBytes(2, resumeSize)
			if _, err := direct.Put(t.Context(), "k", bytes.NewReader(old)); err != nil {
				t.Fatal(err)
			}
			p := newCutProxy(t, sv.endpoint, cut{after: 2 << 20})
			p.onCut = func(int) { tc.change(t, direct, "k") }
			s, api := proxiedStore(t, p, direct.bucket, Options{})
			got, err := readAll(t, t.Context(), s, "k")
			if !errors.Is(err, ErrChanged) {
				t.Fatalf("read %d bytes, error %v; want ErrChanged", len(got), err)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("error %v does not wrap the read error", err)
			}
			if len(got) > 2<<20 || !bytes.Equal(got, old[:len(got)]) {
				t.Errorf("read %d bytes that are not a prefix of the old object", len(got))
			}
			gets, errs := api.calls()
			if len(gets) != 2 {
				t.Errorf("%d GetObject calls, want 2", len(gets))
			}
			t.Logf("%s answered the resumption with: %v", sv.name, errs[len(errs)-1])
			if sv.name == "versitygw" && tc.name == "replaced" && !isPreconditionFailed(errs[len(errs)-1]) {
				t.Errorf("versitygw answered If-Match on a replaced object with %v, want 412", errs[len(errs)-1])
			}
		})
	}
}

// testResumeCancelled cancels the context, or closes the reader, while it
// waits to resume: the Read returns at once.
func testResumeCancelled(t *testing.T, sv *server) {
	direct := sv.newStore(t, Options{})
	want := randomBytes(4, 4<<20)
	if _, err := direct.Put(t.Context(), "k", bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			p := newCutProxy(t, sv.endpoint, cut{after: 1 << 20, reset: true})
			s, api := proxiedStore(t, p, direct.bucket, Options{})
			s.resumeBackoff = time.Hour
			waiting := make(chan struct{})
			s.testHookBackoff = func() { close(waiting) }
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			rc, err := s.Get(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			type result struct {
				n   int
				err error
			}
			done := make(chan result, 1)
			go func() {
				b, err := io.ReadAll(rc)
				done <- result{len(b), err}
			}()
			select {
			case <-waiting:
			case r := <-done:
				t.Fatalf("the read ended (%d bytes, %v) without waiting to resume", r.n, r.err)
			case <-time.After(30 * time.Second):
				t.Fatal("the reader never started waiting to resume")
			}
			start := time.Now()
			if how == "cancel" {
				cancel()
			} else {
				rc.Close()
			}
			select {
			case r := <-done:
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("the read took %v to stop", d)
				}
				if how == "cancel" && !errors.Is(r.err, context.Canceled) {
					t.Errorf("error %v, want context.Canceled", r.err)
				}
				if how == "close" && !errors.Is(r.err, errClosed) {
					t.Errorf("error %v, want the reader closed", r.err)
				}
				if r.n >= len(want) {
					t.Errorf("read %d bytes", r.n)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the read did not stop")
			}
			if gets, _ := api.calls(); len(gets) != 1 {
				t.Errorf("%d GetObject calls, want 1 (no resumption)", len(gets))
			}
		})
	}
}

// fakeAPI answers GetObject from a function; other calls panic.
type fakeAPI struct {
	API
	mu   sync.Mutex
	gets []*awss3.GetObjectInput
	get  func(i int, in *awss3.GetObjectInput) (*awss3.GetObjectOutput, error)
}

func (f *fakeAPI) GetObject(ctx context.Context, in *awss3.GetObjectInput, opts ...func(*awss3.Options)) (*awss3.GetObjectOutput, error) {
	f.mu.Lock()
	i := len(f.gets)
	f.gets = append(f.gets, in)
	f.mu.Unlock()
	return f.get(i, in)
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.gets)
}

// failingBody yields b, then fails with err (io.EOF for a plain early end).
type failingBody struct {
	r   *bytes.Reader
	err error
}

func (f *failingBody) Read(p []byte) (int, error) {
	if f.r.Len() == 0 {
		return 0, f.err
	}
	return f.r.Read(p[:min(len(p), 1000)])
}

func (f *failingBody) Close() error { return nil }

// objectServer serves obj from GetObject like S3, honouring Range, with
// bodies that fail with failures[i] after cutAt bytes on the i-th call.
func objectServer(obj []byte, etag string, cutAt int, failures ...error) func(int, *awss3.GetObjectInput) (*awss3.GetObjectOutput, error) {
	return func(i int, in *awss3.GetObjectInput) (*awss3.GetObjectOutput, error) {
		out := &awss3.GetObjectOutput{ETag: aws.String(etag)}
		if etag == "" {
			out.ETag = nil
		}
		start := 0
		if in.Range != nil {
			fmt.Sscanf(*in.Range, "bytes=%d-", &start)
			out.ContentRange = aws.String(fmt.Sprintf("bytes %d-%d/%d", start, len(obj)-1, len(obj)))
		}
		out.ContentLength = aws.Int64(int64(len(obj) - start))
		rest := obj[start:]
		if i < len(failures) {
			out.Body = &failingBody{bytes.NewReader(rest[:min(cutAt, len(rest))]), failures[i]}
		} else {
			out.Body = io.NopCloser(bytes.NewReader(rest))
		}
		return out, nil
	}
}

func fakeStore(t *testing.T, api API, o Options) *Store {
	t.Helper()
	o.Bucket = "fake-bucket"
	s, err := New(api, o)
	if err != nil {
		t.Fatal(err)
	}
	s.resumeBackoff = time.Millisecond
	return s
}

// statusError is an HTTP error answer as the SDK reports it.
func statusError(code int) error {
	return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}},
		Err: errors.New(http.StatusText(code))}
}

func TestGetResumeFake(t *testing.T) {
	obj := randomBytes(5, 100_000)
	boom := errors.New("connection reset by peer")

	t.Run("early-plain-EOF-resumes", func(t *testing.T) {
		api := &fakeAPI{get: objectServer(obj, `"e1"`, 30_000, io.EOF, io.EOF)}
		got, err := readAll(t, t.Context(), fakeStore(t, api, Options{}), "k")
		if err != nil || !bytes.Equal(got, obj) {
			t.Fatalf("read %d bytes (equal %v), %v", len(got), bytes.Equal(got, obj), err)
		}
		if api.count() != 3 || aws.ToString(api.gets[1].Range) != "bytes=30000-" || aws.ToString(api.gets[2].Range) != "bytes=60000-" {
			t.Errorf("%d calls, ranges %v", api.count(), api.gets)
		}
	})
	t.Run("early-plain-EOF-is-an-error", func(t *testing.T) {
		api := &fakeAPI{get: objectServer(obj, `"e1"`, 30_000, io.EOF)}
		got, err := readAll(t, t.Context(), fakeStore(t, api, Options{GetResumes: -1}), "k")
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 30_000 {
			t.Fatalf("read %d bytes, %v; want 30000 and io.ErrUnexpectedEOF", len(got), err)
		}
	})
	t.Run("no-etag-no-resumption", func(t *testing.T) {
		api := &fakeAPI{get: objectServer(obj, "", 30_000, boom)}
		got, err := readAll(t, t.Context(), fakeStore(t, api, Options{}), "k")
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "no ETag") || len(got) != 30_000 || api.count() != 1 {
			t.Fatalf("read %d bytes in %d calls, %v", len(got), api.count(), err)
		}
	})
	t.Run("exhausted", func(t *testing.T) {
		unavailable := statusError(503)
		api := &fakeAPI{get: func(i int, in *awss3.GetObjectInput) (*awss3.GetObjectOutput, error) {
			if i == 0 {
				return objectServer(obj, `"e1"`, 30_000, boom)(i, in)
			}
			return nil, unavailable
		}}
		got, err := readAll(t, t.Context(), fakeStore(t, api, Options{GetResumes: 3}), "k")
		if !errors.Is(err, boom) || !errors.Is(err, unavailable) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
			t.Fatalf("error %v", err)
		}
		if len(got) != 30_000 || api.count() != 4 {
			t.Errorf("read %d bytes in %d calls, want 30000 in 4", len(got), api.count())
		}
	})
	t.Run("each-cut-counts", func(t *testing.T) {
		// Five resumptions in all, however much each one read.
		fails := []error{boom, boom, boom, boom, boom, boom, boom}
		api := &fakeAPI{get: objectServer(obj, `"e1"`, 10_000, fails...)}
		got, err := readAll(t, t.Context(), fakeStore(t, api, Options{}), "k")
		if !errors.Is(err, boom) || len(got) != 60_000 || api.count() != 1+DefaultGetResumes {
			t.Fatalf("read %d bytes in %d calls, %v", len(got), api.count(), err)
		}
		if !strings.Contains(err.Error(), "gave up after 5 attempts to resume at byte 60000 of 100000: ") || strings.Contains(err.Error(), "%!") {
			t.Errorf("error %q", err)
		}
	})
	t.Run("precondition-failed", func(t *testing.T) {
		api := &fakeAPI{get: func(i int, in *awss3.GetObjectInput) (*awss3.GetObjectOutput, error) {
			if i == 0 {
				return objectServer(obj, `"e1"`, 30_000, boom)(i, in)
			}
			return nil, statusError(412)
		}}
		got, err := readAll(t, t.Context(), fakeStore(t, api, Options{}), "k")
		if !errors.Is(err, ErrChanged) || !errors.Is(err, boom) || len(got) != 30_000 || api.count() != 2 {
			t.Fatalf("read %d bytes in %d calls, %v", len(got), api.count(), err)
		}
	})
	t.Run("forbidden-is-final", func(t *testing.T) {
		api := &fakeAPI{get: func(i int, in *awss3.GetObjectInput) (*awss3.GetObjectOutput, error) {
			if i == 0 {
				return objectServer(obj, `"e1"`, 30_000, boom)(i, in)
			}
			return nil, statusError(403)
		}}
		_, err := readAll(t, t.Context(), fakeStore(t, api, Options{}), "k")
		if !errors.Is(err, boom) || api.count() != 2 {
			t.Fatalf("%d calls, %v", api.count(), err)
		}
	})
	t.Run("range-ignored", func(t *testing.T) {
		serve := objectServer(obj, `"e1"`, 30_000, boom)
		api := &fakeAPI{get: func(i int, in *awss3.GetObjectInput) (*awss3.GetObjectOutput, error) {
			in2 := *in
			in2.Range = nil // a server that ignores Range sends the whole object
			return serve(i, &in2)
		}}
		got, err := readAll(t, t.Context(), fakeStore(t, api, Options{}), "k")
		if err == nil || !strings.Contains(err.Error(), "ignored the Range") || len(got) != 30_000 {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
	})
	t.Run("other-size-is-changed", func(t *testing.T) {
		bigger := append(slicesClone(obj), 1, 2, 3)
		api := &fakeAPI{get: func(i int, in *awss3.GetObjectInput) (*awss3.GetObjectOutput, error) {
			if i == 0 {
				return objectServer(obj, `"e1"`, 30_000, boom)(i, in)
			}
			return objectServer(bigger, `"e1"`, 0)(i, in)
		}}
		_, err := readAll(t, t.Context(), fakeStore(t, api, Options{}), "k")
		if !errors.Is(err, ErrChanged) {
			t.Fatalf("error %v, want ErrChanged", err)
		}
	})
	t.Run("error-after-the-last-byte-is-final", func(t *testing.T) {
		mismatch := errors.New("checksum did not match")
		api := &fakeAPI{get: objectServer(obj, `"e1"`, len(obj), mismatch)}
		got, err := readAll(t, t.Context(), fakeStore(t, api, Options{}), "k")
		if !errors.Is(err, mismatch) || len(got) != len(obj) || api.count() != 1 {
			t.Fatalf("read %d bytes in %d calls, %v", len(got), api.count(), err)
		}
	})
	t.Run("invalid-key", func(t *testing.T) {
		if _, err := fakeStore(t, &fakeAPI{}, Options{}).Get(t.Context(), "/x"); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("error %v", err)
		}
	})
}

// TestResetIsSeen checks the proxy's reset mode really resets: the client
// sees ECONNRESET, not a clean end.
func TestResetIsSeen(t *testing.T) {
	sv := gofakes3Server(t)
	direct := sv.newStore(t, Options{})
	if _, err := direct.Put(t.Context(), "k", bytes.NewReader(randomBytes(6, 8<<20))); err != nil {
		t.Fatal(err)
	}
	p := newCutProxy(t, sv.endpoint, cut{after: 1 << 20, reset: true})
	s, _ := proxiedStore(t, p, direct.bucket, Options{GetResumes: -1})
	_, err := readAll(t, t.Context(), s, "k")
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("error %v, want ECONNRESET", err)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		s                  string
		first, last, total int64
	}{
		{"bytes 0-0/1", 0, 0, 1},
		{"bytes 100-199/200", 100, 199, 200},
		{"bytes 5-9/*", 5, 9, -1},
		{"bytes 0-9223372036854775806/9223372036854775807", 0, 9223372036854775806, 9223372036854775807},
	} {
		f, l, n, ok := parseContentRange(tc.s)
		if !ok || f != tc.first || l != tc.last || n != tc.total {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v", tc.s, f, l, n, ok)
		}
	}
	for _, s := range []string{"", "bytes", "bytes 0-9", "bytes */10", "bytes 5-4/10", "bytes 0-10/10", "bytes -1-5/10",
		"bytes 01-5/10", "bytes +1-5/10", "bytes 1-5/010", "Bytes 1-5/10", "bytes  1-5/10", "bytes 1 -5/10",
		"bytes 0-9223372036854775808/*", "bytes 1-5/10 ", "items 1-5/10", "bytes 1-5-6/10", "bytes 1-5/10/11"} {
		if f, l, n, ok := parseContentRange(s); ok {
			t.Errorf("parseContentRange(%q) accepted: %d, %d, %d", s, f, l, n)
		}
	}
}

// FuzzParseContentRange: an accepted header is exactly the canonical form
// of what it parsed to, and the range is ordered and within the total.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-0/1", "bytes 100-199/200", "bytes 5-9/*", "bytes 01-2/3", "bytes 9-8/10", "bytes 0-1/-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, ok := parseContentRange(s)
		if !ok {
			return
		}
		tot := "*"
		if total >= 0 {
			tot = fmt.Sprint(total)
		}
		if canon := fmt.Sprintf("bytes %d-%d/%s", first, last, tot); canon != s {
			t.Fatalf("parsed %q as %q", s, canon)
		}
		if first < 0 || first > last || total < -1 || total >= 0 && last >= total {
			t.Fatalf("parsed %q as %d-%d/%d", s, first, last, total)
		}
	})
}
