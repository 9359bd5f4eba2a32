package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"strata/internal/blob"
)

const (
	// DefaultGetResumes is how many times a reader from Get may re-request
	// the rest of its object when Options.GetResumes is 0.
	DefaultGetResumes = 5
	// defaultResumeBackoff is the wait before a reader's first resumption;
	// it doubles for each later one, up to maxResumeBackoff.
	defaultResumeBackoff = 100 * time.Millisecond
	maxResumeBackoff     = 2 * time.Second
)

// ErrChanged is wrapped by a read error from a Get reader whose connection
// failed and which could not resume because the object was replaced or
// deleted after Get: the reader never splices two versions of an object.
var ErrChanged = errors.New("s3: the object changed while it was being read")

// errClosed is the cause a reader's context gets from Close.
var errClosed = errors.New("s3: read from a closed object reader")

// Get opens the object. The returned reader reads within ctx.
//
// If the connection breaks mid-body (a reset, a server restart, a body cut
// short of its Content-Length), the reader re-requests the rest of the
// object (Range: bytes=OFFSET-) with If-Match set to the ETag of the first
// response, and carries on where it was; see Options.GetResumes. If the
// object was replaced or deleted since Get, the read fails with ErrChanged
// rather than mix two objects (an unbroken reader keeps reading the object
// it opened). A server that sends no ETag gets no resumption. A body that
// ends before the size the first response announced is always an error,
// never a short object.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancelCause(ctx)
	out, err := s.c.GetObject(rctx, &awss3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		cancel(nil)
		return nil, s.wrap("getting", key, err)
	}
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return &reader{s: s, key: key, ctx: rctx, cancel: cancel, etag: aws.ToString(out.ETag), size: size, body: out.Body}, nil
}

// reader is the body of a Get that resumes after a broken connection. Read
// is not safe for concurrent use (as for any io.Reader); Close may be
// called while a Read is blocked, and ends it.
type reader struct {
	s      *Store
	key    string
	ctx    context.Context // the caller's, cancelled by Close
	cancel context.CancelCauseFunc
	// etag ties a resumed response to the first one; "" if the server sent
	// none, and then the reader does not resume.
	etag string
	// size is the object's size (the first response's Content-Length), -1
	// if the server did not say.
	size    int64
	off     int64 // bytes returned so far
	resumes int   // GetObject requests made to resume
	err     error // once set, every Read returns it

	mu     sync.Mutex // guards body's replacement against Close
	body   io.ReadCloser
	closed bool
}

func (r *reader) Read(p []byte) (int, error) {
	for {
		if r.err != nil {
			return 0, r.err
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == io.EOF {
			switch {
			case r.size < 0 || r.off == r.size:
				r.err = io.EOF
				return n, io.EOF
			case r.off > r.size:
				r.err = fmt.Errorf("reading %s: the server sent %d bytes of a %d-byte object", r.s.where(r.key), r.off, r.size)
				return n, r.err
			}
			// A cut body may end in a plain EOF (net/http says
			// io.ErrUnexpectedEOF, other transports may not); it must not
			// look like the end of the object.
			err = fmt.Errorf("%w: the response body ended after %d of %d bytes", io.ErrUnexpectedEOF, r.off, r.size)
		}
		if err == nil {
			if n > 0 || len(p) == 0 {
				return n, nil
			}
			continue
		}
		r.dropBody()
		// On success resume puts a new body in place; otherwise its error
		// is sticky.
		r.err = r.resume(err)
		if n > 0 {
			return n, nil // the error, or the resumed body, comes with the next Read
		}
	}
}

// dropBody closes the failed body.
func (r *reader) dropBody() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
}

// resume handles a failed read of the body, rerr, at r.off: it returns nil
// with a new body in place if the read can go on, otherwise the error for
// the caller.
func (r *reader) resume(rerr error) error {
	where := r.s.where(r.key)
	if r.ctx.Err() != nil {
		return fmt.Errorf("reading %s: %w", where, context.Cause(r.ctx))
	}
	if r.size >= 0 && r.off >= r.size {
		// Every byte arrived; the error is about the whole (such as the
		// SDK's checksum check at the end), and a retry cannot mend it.
		return fmt.Errorf("reading %s: %w", where, rerr)
	}
	if r.etag == "" {
		// Without an ETag nothing ties a second response to the object the
		// first one was reading (Last-Modified has one-second resolution
		// and a Put may replace the key at any time), so resuming could
		// splice two objects. Fail as if there were no resumption.
		return fmt.Errorf("reading %s: %w (not resumed: the server sent no ETag to hold the object to)", where, rerr)
	}
	var last error // the latest failed attempt to resume
	for {
		if r.resumes >= r.s.resumes {
			if r.s.resumes == 0 {
				return fmt.Errorf("reading %s: failed at byte %d %s: %w", where, r.off, r.ofSize(), rerr)
			}
			if last != nil {
				return fmt.Errorf("reading %s: gave up after %d attempts to resume at byte %d %s (the last: %w): %w",
					where, r.resumes, r.off, r.ofSize(), last, rerr)
			}
			return fmt.Errorf("reading %s: gave up after %d attempts to resume at byte %d %s: %w",
				where, r.resumes, r.off, r.ofSize(), rerr)
		}
		r.resumes++
		r.s.log.Warn("resuming a broken object read", "object", where, "offset", r.off, "size", r.size,
			"attempt", r.resumes, "err", rerr)
		if err := r.backoff(); err != nil {
			return fmt.Errorf("reading %s: %w (while waiting to resume after: %w)", where, err, rerr)
		}
		out, err := r.s.c.GetObject(r.ctx, &awss3.GetObjectInput{
			Bucket:  aws.String(r.s.bucket),
			Key:     aws.String(r.s.prefix + r.key),
			Range:   aws.String("bytes=" + strconv.FormatInt(r.off, 10) + "-"),
			IfMatch: aws.String(r.etag),
		})
		if err != nil {
			switch {
			case r.ctx.Err() != nil:
				return fmt.Errorf("reading %s: %w (while resuming after: %w)", where, context.Cause(r.ctx), rerr)
			case isPreconditionFailed(err):
				return r.changed("it no longer has the ETag "+r.etag, rerr)
			case isNoSuchKey(err):
				return r.changed("it was deleted", rerr)
			case isClientError(err):
				return fmt.Errorf("reading %s: resuming at byte %d failed: %w; the read had failed with: %w", where, r.off, err, rerr)
			}
			// A server error or a failed connection (after the SDK's own
			// retries): try again while attempts remain.
			last = err
			continue
		}
		if err := r.check(out, rerr); err != nil {
			out.Body.Close()
			return err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.closed {
			out.Body.Close()
			return fmt.Errorf("reading %s: %w", where, errClosed)
		}
		r.body = out.Body
		return nil
	}
}

// check verifies that a resumed response continues the object at r.off;
// rerr is the read error being recovered from.
func (r *reader) check(out *awss3.GetObjectOutput, rerr error) error {
	where := r.s.where(r.key)
	if got := aws.ToString(out.ETag); got != r.etag {
		// A server that ignores If-Match (gofakes3 does) sends the new
		// object; the ETag still tells.
		return r.changed(fmt.Sprintf("its ETag is now %s, not %s", got, r.etag), rerr)
	}
	if out.ContentRange == nil {
		return fmt.Errorf("reading %s: the server ignored the Range header when resuming at byte %d; the read had failed with: %w", where, r.off, rerr)
	}
	first, last, total, ok := parseContentRange(*out.ContentRange)
	switch {
	case !ok:
		return fmt.Errorf("reading %s: resuming at byte %d: bad Content-Range %q; the read had failed with: %w", where, r.off, *out.ContentRange, rerr)
	case r.size >= 0 && total != r.size:
		return r.changed(fmt.Sprintf("its size is now %d, not %d", total, r.size), rerr)
	case first != r.off || total >= 0 && last != total-1:
		return fmt.Errorf("reading %s: asked for bytes %d- and got the range %q; the read had failed with: %w", where, r.off, *out.ContentRange, rerr)
	case out.ContentLength != nil && *out.ContentLength != last-first+1:
		return fmt.Errorf("reading %s: the range %q came with Content-Length %d; the read had failed with: %w", where, *out.ContentRange, *out.ContentLength, rerr)
	}
	if r.size < 0 {
		r.size = total // -1 if the server still does not say
	}
	return nil
}

// changed is the error for an object that is no longer the one being
// read; rerr is the read error that made the reader resume.
func (r *reader) changed(how string, rerr error) error {
	return fmt.Errorf("reading %s: %w: %s, so the read cannot resume at byte %d %s; the read had failed with: %w",
		r.s.where(r.key), ErrChanged, how, r.off, r.ofSize(), rerr)
}

// ofSize completes "at byte N".
func (r *reader) ofSize() string {
	if r.size < 0 {
		return "of an object of unknown size"
	}
	return "of " + strconv.FormatInt(r.size, 10)
}

// backoff waits before resumption number r.resumes, or until ctx ends.
func (r *reader) backoff() error {
	d := r.s.resumeBackoff
	for i := 1; i < r.resumes && d < maxResumeBackoff; i++ {
		d *= 2
	}
	d = min(d, max(maxResumeBackoff, r.s.resumeBackoff))
	if r.s.testHookBackoff != nil {
		r.s.testHookBackoff()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.ctx.Done():
		return context.Cause(r.ctx)
	}
}

// Close closes the body and ends a Read blocked on it or waiting to resume.
func (r *reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.cancel(errClosed)
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}

// isPreconditionFailed reports a 412 answer to If-Match.
func isPreconditionFailed(err error) bool {
	if ae, ok := errors.AsType[smithy.APIError](err); ok && ae.ErrorCode() == "PreconditionFailed" {
		return true
	}
	return httpStatus(err) == 412
}

// isClientError reports a 4xx answer that asking again will not change
// (not 408 Request Timeout or 429 Too Many Requests).
func isClientError(err error) bool {
	st := httpStatus(err)
	return st >= 400 && st < 500 && st != 408 && st != 429
}

// httpStatus is the HTTP status of a failed request, 0 if there was no
// response.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// parseContentRange parses the Content-Range of a 206 response, "bytes
// FIRST-LAST/TOTAL", where TOTAL may be "*" (returned as -1). Numbers are
// plain decimal without leading zeros; FIRST <= LAST < TOTAL.
func parseContentRange(s string) (first, last, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	span, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, 0, false
	}
	var okA, okB, okT bool
	first, okA = parseDecimal(a)
	last, okB = parseDecimal(b)
	if tot == "*" {
		total, okT = -1, true
	} else {
		total, okT = parseDecimal(tot)
	}
	if !okA || !okB || !okT || first > last || total >= 0 && last >= total {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

// parseDecimal parses a non-negative int64 written in ASCII digits with no
// sign and no leading zeros.
func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
