package s3

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"strings"

	"strata/internal/auth"
)

// chunkedReader decodes an aws-chunked body:
//
//	<hex size>[;chunk-signature=<64 hex>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n
//	[<trailer name>:<value>\r\n ... [x-amz-trailer-signature:<64 hex>\r\n]]\r\n
//
// With an auth.ChunkVerifier it verifies each chunk's signature, chained
// from the request's signature, when the chunk ends, and the trailer's
// signature; the caller must not use what it read before Read returns
// io.EOF. Chunks are streamed, never buffered, so one chunk may be the
// whole body.
type chunkedReader struct {
	r      *bufio.Reader
	chunks *auth.ChunkVerifier // nil for an unsigned body
	// trailer is the trailer header the request declared (lower case), or "".
	trailer string
	max     int64 // bound on the decoded length

	remaining int64     // data left in the current chunk
	sig       string    // the current chunk's signature
	h         hash.Hash // SHA-256 of the current chunk
	total     int64
	done      bool
	err       error

	// Trailers holds the trailer headers, lower-cased, once Read has
	// returned io.EOF.
	Trailers map[string]string
}

// maxChunkLine bounds a chunk header or trailer line.
const maxChunkLine = 4096

// errIncompleteBody is a body that ended early.
var errIncompleteBody = s3err(400, "IncompleteBody", "The request body terminated unexpectedly")

func errChunk(msg string) *Error {
	return s3err(400, "InvalidChunkSizeError", "The aws-chunked body is malformed: "+msg+".")
}

// newChunkedReader returns a decoder of r. A signed body needs chunks,
// the request's auth.Credential.Chunks; an unsigned one has none.
func newChunkedReader(r io.Reader, chunks *auth.ChunkVerifier, trailer string, max int64) *chunkedReader {
	c := &chunkedReader{r: bufio.NewReaderSize(r, 64<<10), chunks: chunks, trailer: trailer, max: max}
	if chunks != nil {
		c.h = sha256.New()
	}
	return c
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.remaining == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.r.Read(p)
	c.remaining -= int64(n)
	if c.chunks != nil {
		c.h.Write(p[:n])
	}
	if err == io.EOF || err == nil && n == 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && c.remaining > 0 {
		c.err = errIncompleteBody
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			c.err = err
		}
		return n, c.err
	}
	if c.remaining == 0 {
		if err := c.endChunk(); err != nil {
			c.err = err
			return n, err
		}
	}
	return n, nil
}

// endChunk reads the CRLF after a chunk's data and checks its signature.
func (c *chunkedReader) endChunk() error {
	line, err := c.line()
	if err != nil {
		return err
	}
	if line != "" {
		return errChunk("chunk data is longer than its size")
	}
	return c.checkChunkSig()
}

func (c *chunkedReader) checkChunkSig() error {
	if c.chunks == nil {
		return nil
	}
	var sum [sha256.Size]byte
	c.h.Sum(sum[:0])
	c.h.Reset()
	return c.chunks.VerifyChunk(sum, c.sig)
}

// next reads a chunk header; for the final chunk it also reads the
// trailer and checks the last signatures.
func (c *chunkedReader) next() error {
	line, err := c.line()
	if err != nil {
		return err
	}
	sizeStr, ext, hasExt := strings.Cut(line, ";")
	if c.chunks != nil {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !hasExt || !ok || !isHex64(sig) {
			return errChunk("a chunk must carry ;chunk-signature=<64 hex digits>")
		}
		c.sig = sig
	} else if hasExt {
		return errChunk("unsigned chunks carry no extensions")
	}
	if sizeStr == "" || len(sizeStr) > 16 {
		return errChunk("bad chunk size")
	}
	var size int64
	for i := range len(sizeStr) {
		d := unhex(sizeStr[i])
		if d < 0 {
			return errChunk("bad chunk size")
		}
		size = size<<4 | int64(d)
	}
	if size < 0 || size > c.max-c.total {
		return s3err(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	}
	c.total += size
	if size > 0 {
		c.remaining = size
		return nil
	}
	// The final chunk: its (empty) data is signed too.
	if err := c.checkChunkSig(); err != nil {
		return err
	}
	if err := c.readTrailer(); err != nil {
		return err
	}
	c.done = true
	return nil
}

// readTrailer reads the trailer headers up to the empty line.
func (c *chunkedReader) readTrailer() error {
	c.Trailers = map[string]string{}
	var canon strings.Builder
	trailerSig := ""
	for {
		line, err := c.line()
		if err != nil {
			if errors.Is(err, errIncompleteBody) && c.trailer == "" && len(c.Trailers) == 0 {
				return nil // "0\r\n" then EOF: lenient when nothing was declared
			}
			return err
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if !ok || name == "" || len(c.Trailers) >= 8 {
			return errChunk("bad trailer")
		}
		if name == "x-amz-trailer-signature" {
			trailerSig = value
			continue
		}
		if _, dup := c.Trailers[name]; dup {
			return errChunk("repeated trailer")
		}
		c.Trailers[name] = value
		canon.WriteString(name + ":" + value + "\n")
	}
	if c.trailer != "" {
		if _, ok := c.Trailers[c.trailer]; !ok {
			return errIncompleteBody
		}
	}
	if c.chunks != nil && c.trailer != "" {
		return c.chunks.VerifyTrailer(canon.String(), trailerSig)
	}
	return nil
}

// line reads one CRLF-terminated line without its CRLF.
func (c *chunkedReader) line() (string, error) {
	b, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(b) > maxChunkLine {
		return "", errChunk("line too long")
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", errIncompleteBody
		}
		return "", err
	}
	if len(b) < 2 || b[len(b)-2] != '\r' {
		return "", errChunk("lines must end in CRLF")
	}
	return string(b[:len(b)-2]), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
