package kms

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Encrypted stream format (version 1), the STREAM construction of Hoang,
// Reyhanitabar, Rogaway and Vizár ("online authenticated encryption",
// as in Tink's streaming AEAD):
//
//	header (28 bytes): "STS1" | log2(chunk size) (1 byte) | salt (16) | nonce prefix (7)
//	chunks: AES-256-GCM(chunk plaintext) || tag, each StreamChunkSize
//	        plaintext bytes except the last, which holds 0 to StreamChunkSize
//
// The stream key is HKDF-SHA256(data key, salt, "strata stream v1"), so
// one data key can encrypt any number of streams without nonce reuse.
// Chunk i's nonce is prefix | uint32 i | last flag (1 for the final chunk,
// else 0), and every chunk's AAD is the header followed by the caller's
// AAD. Dropping, reordering or duplicating chunks, swapping chunks between
// streams, truncating at a chunk boundary (the new last chunk was sealed as
// not last) or editing the header all fail authentication.
const (
	// StreamChunkSize is the plaintext size of every chunk but the last.
	StreamChunkSize = 64 << 10
	// StreamHeaderSize is the size of the stream header.
	StreamHeaderSize = 28

	streamMagic       = "STS1"
	streamChunkLog    = 16
	minStreamChunkLog = 10
	maxStreamChunkLog = 22
	streamSaltLen     = 16
	streamPrefixLen   = 7
	streamKeyInfo     = "strata stream v1"
	maxStreamChunkIdx = 1<<32 - 1
)

// ErrStreamCorrupt: an encrypted stream is malformed, truncated or was
// tampered with, or the key or AAD is wrong. It wraps ErrInvalidCiphertext.
var ErrStreamCorrupt = fmt.Errorf("%w: encrypted stream corrupt or truncated", ErrInvalidCiphertext)

// EncryptedSize returns the size of the encryption of n plaintext bytes.
func EncryptedSize(n int64) int64 {
	chunks := max(1, (n+StreamChunkSize-1)/StreamChunkSize)
	return StreamHeaderSize + n + chunks*gcmTagLen
}

// PlaintextSize returns the plaintext size of a well-formed encrypted
// stream of n bytes, or an error if no stream has that size.
func PlaintextSize(n int64) (int64, error) {
	const full = StreamChunkSize + gcmTagLen
	body := n - StreamHeaderSize
	if body < gcmTagLen {
		return 0, ErrStreamCorrupt
	}
	chunks := (body + full - 1) / full
	pt := body - chunks*gcmTagLen
	if pt < 0 || EncryptedSize(pt) != n {
		return 0, ErrStreamCorrupt
	}
	return pt, nil
}

// streamState is what a writer and a reader share.
type streamState struct {
	aead    cipher.AEAD
	aad     []byte // header || caller AAD
	prefix  [streamPrefixLen]byte
	nonce   [nonceLen]byte
	counter uint64
	chunk   int
}

func newStreamState(dataKey, header, aad []byte) (*streamState, error) {
	if len(dataKey) != DataKeySize {
		return nil, fmt.Errorf("%w: data key is %d bytes, want %d", ErrValidation, len(dataKey), DataKeySize)
	}
	salt := header[5 : 5+streamSaltLen]
	key, err := hkdf.Key(sha256.New, dataKey, salt, streamKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s := &streamState{aead: aead, chunk: 1 << header[4]}
	s.aad = append(append(make([]byte, 0, len(header)+len(aad)), header...), aad...)
	copy(s.prefix[:], header[5+streamSaltLen:])
	return s, nil
}

// nextNonce returns the nonce of the next chunk and advances the counter.
func (s *streamState) nextNonce(last bool) ([]byte, error) {
	if s.counter > maxStreamChunkIdx {
		return nil, fmt.Errorf("%w: stream longer than 2^32 chunks", ErrValidation)
	}
	copy(s.nonce[:], s.prefix[:])
	binary.BigEndian.PutUint32(s.nonce[streamPrefixLen:], uint32(s.counter))
	s.nonce[nonceLen-1] = 0
	if last {
		s.nonce[nonceLen-1] = 1
	}
	s.counter++
	return s.nonce[:], nil
}

// StreamWriter encrypts a stream; see NewWriter.
type StreamWriter struct {
	w      io.Writer
	s      *streamState
	buf    []byte // chunk plaintext in buf[:n]; cap chunk+tag for sealing in place
	n      int
	err    error
	closed bool
}

// NewWriter returns a writer that encrypts what is written to it under
// dataKey (DataKeySize bytes), binding aad, and writes the result to w.
// Close must be called to write the final chunk; it does not close w.
// Memory use is one chunk.
func NewWriter(w io.Writer, dataKey, aad []byte) (*StreamWriter, error) {
	header := make([]byte, StreamHeaderSize)
	copy(header, streamMagic)
	header[4] = streamChunkLog
	rand.Read(header[5:])
	s, err := newStreamState(dataKey, header, aad)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(header); err != nil {
		return nil, fmt.Errorf("writing stream header: %w", err)
	}
	return &StreamWriter{w: w, s: s, buf: make([]byte, s.chunk, s.chunk+gcmTagLen)}, nil
}

// Write encrypts p. A chunk is written once it is full and more data
// follows, so the final chunk is never empty unless the stream is.
func (sw *StreamWriter) Write(p []byte) (int, error) {
	if sw.err != nil {
		return 0, sw.err
	}
	if sw.closed {
		return 0, errors.New("kms: write to closed stream")
	}
	written := 0
	for len(p) > 0 {
		if sw.n == sw.s.chunk {
			if err := sw.flush(false); err != nil {
				return written, err
			}
		}
		c := copy(sw.buf[sw.n:sw.s.chunk], p)
		sw.n += c
		written += c
		p = p[c:]
	}
	return written, nil
}

func (sw *StreamWriter) flush(last bool) error {
	nonce, err := sw.s.nextNonce(last)
	if err != nil {
		sw.err = err
		return err
	}
	out := sw.s.aead.Seal(sw.buf[:0], nonce, sw.buf[:sw.n], sw.s.aad)
	if _, err := sw.w.Write(out); err != nil {
		sw.err = fmt.Errorf("writing encrypted chunk: %w", err)
		return sw.err
	}
	sw.buf = sw.buf[:sw.s.chunk]
	sw.n = 0
	return nil
}

// Close writes the final chunk. It does not close the underlying writer.
func (sw *StreamWriter) Close() error {
	if sw.closed {
		return sw.err
	}
	sw.closed = true
	if sw.err != nil {
		return sw.err
	}
	return sw.flush(true)
}

// StreamReader decrypts a stream; see NewReader.
type StreamReader struct {
	r     io.Reader
	s     *streamState
	ct    []byte // chunk+tag+1 bytes: one chunk plus a byte of lookahead
	have  int    // bytes of ct filled (the lookahead byte carried over)
	plain []byte // decrypted, unread plaintext
	pbuf  []byte
	done  bool
	err   error
}

// NewReader reads and checks the stream header from r and returns a reader
// of the plaintext. Every chunk is authenticated before any of its bytes
// are returned; a corrupt, truncated or reordered stream, a wrong key or a
// wrong aad gives ErrStreamCorrupt. Bytes returned before an error came
// from authentic chunks, but the caller must not treat the stream as whole
// until Read returns io.EOF.
func NewReader(r io.Reader, dataKey, aad []byte) (*StreamReader, error) {
	header := make([]byte, StreamHeaderSize)
	if _, err := io.ReadFull(r, header); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: short header", ErrStreamCorrupt)
		}
		return nil, fmt.Errorf("reading stream header: %w", err)
	}
	if err := checkStreamHeader(header); err != nil {
		return nil, err
	}
	s, err := newStreamState(dataKey, header, aad)
	if err != nil {
		return nil, err
	}
	return &StreamReader{r: r, s: s, ct: make([]byte, s.chunk+gcmTagLen+1), pbuf: make([]byte, 0, s.chunk)}, nil
}

func checkStreamHeader(h []byte) error {
	if !bytes.Equal(h[:4], []byte(streamMagic)) {
		return fmt.Errorf("%w: not an encrypted stream", ErrStreamCorrupt)
	}
	if h[4] < minStreamChunkLog || h[4] > maxStreamChunkLog {
		return fmt.Errorf("%w: chunk size 2^%d out of range", ErrStreamCorrupt, h[4])
	}
	return nil
}

// Read implements io.Reader.
func (sr *StreamReader) Read(p []byte) (int, error) {
	for len(sr.plain) == 0 {
		if sr.err != nil {
			return 0, sr.err
		}
		if sr.done {
			return 0, io.EOF
		}
		sr.err = sr.next()
	}
	n := copy(p, sr.plain)
	sr.plain = sr.plain[n:]
	return n, nil
}

// next reads and decrypts one chunk into sr.plain.
func (sr *StreamReader) next() error {
	full := sr.s.chunk + gcmTagLen
	n, err := io.ReadFull(sr.r, sr.ct[sr.have:])
	total := sr.have + n
	switch {
	case err == nil: // a full chunk plus one byte: not the last chunk
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		sr.done = true
	default:
		return fmt.Errorf("reading encrypted stream: %w", err)
	}
	ctLen := full
	if sr.done {
		ctLen = total
		if ctLen < gcmTagLen {
			return ErrStreamCorrupt
		}
	}
	nonce, err := sr.s.nextNonce(sr.done)
	if err != nil {
		return err
	}
	pt, err := sr.s.aead.Open(sr.pbuf[:0], nonce, sr.ct[:ctLen], sr.s.aad)
	if err != nil {
		return ErrStreamCorrupt
	}
	sr.plain = pt
	if !sr.done {
		sr.ct[0] = sr.ct[full]
		sr.have = 1
	}
	if sr.done && len(pt) == 0 && sr.s.counter > 1 {
		// Only an empty stream may end in an empty chunk.
		return ErrStreamCorrupt
	}
	return nil
}

// WriteTo implements io.WriterTo, so io.Copy avoids an extra buffer.
func (sr *StreamReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(sr.plain) > 0 {
			n, err := w.Write(sr.plain)
			total += int64(n)
			sr.plain = sr.plain[n:]
			if err != nil {
				return total, err
			}
		}
		if sr.err != nil {
			return total, sr.err
		}
		if sr.done {
			return total, nil
		}
		sr.err = sr.next()
	}
}

// StreamReaderAt gives random access to an encrypted stream whose total
// size is known (a stored file): each ReadAt decrypts and authenticates only
// the chunks it touches. It is safe for concurrent use.
type StreamReaderAt struct {
	r      io.ReaderAt
	size   int64 // plaintext size
	chunks int64
	aead   cipher.AEAD
	aad    []byte
	prefix [streamPrefixLen]byte
	chunk  int
}

// NewReaderAt reads the header of the encrypted stream of ctSize bytes in
// r and returns a random-access reader of its plaintext. A stream whose
// size is not that of any encryption, a wrong key or aad, or a tampered
// chunk gives ErrStreamCorrupt (for a chunk, from the ReadAt that touches
// it).
func NewReaderAt(r io.ReaderAt, ctSize int64, dataKey, aad []byte) (*StreamReaderAt, error) {
	header := make([]byte, StreamHeaderSize)
	if ctSize < StreamHeaderSize {
		return nil, fmt.Errorf("%w: short header", ErrStreamCorrupt)
	}
	if _, err := r.ReadAt(header, 0); err != nil {
		return nil, fmt.Errorf("reading stream header: %w", err)
	}
	if err := checkStreamHeader(header); err != nil {
		return nil, err
	}
	if header[4] != streamChunkLog {
		return nil, fmt.Errorf("%w: chunk size 2^%d not supported for random access", ErrStreamCorrupt, header[4])
	}
	size, err := PlaintextSize(ctSize)
	if err != nil {
		return nil, err
	}
	s, err := newStreamState(dataKey, header, aad)
	if err != nil {
		return nil, err
	}
	ra := &StreamReaderAt{r: r, size: size, aead: s.aead, aad: s.aad, prefix: s.prefix, chunk: s.chunk}
	ra.chunks = max(1, (size+int64(s.chunk)-1)/int64(s.chunk))
	// Authenticate the last chunk now, so a truncated or extended stream
	// fails here rather than on a late read.
	if _, err := ra.readChunk(ra.chunks-1, make([]byte, s.chunk+gcmTagLen)); err != nil {
		return nil, err
	}
	return ra, nil
}

// Size returns the plaintext size.
func (ra *StreamReaderAt) Size() int64 { return ra.size }

// readChunk reads and decrypts chunk i into buf (chunk+tag bytes), in place.
func (ra *StreamReaderAt) readChunk(i int64, buf []byte) ([]byte, error) {
	full := int64(ra.chunk + gcmTagLen)
	ptLen := int64(ra.chunk)
	last := i == ra.chunks-1
	if last {
		ptLen = ra.size - i*int64(ra.chunk)
	}
	ct := buf[:ptLen+gcmTagLen]
	if _, err := ra.r.ReadAt(ct, StreamHeaderSize+i*full); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrStreamCorrupt
		}
		return nil, fmt.Errorf("reading encrypted chunk: %w", err)
	}
	var nonce [nonceLen]byte
	copy(nonce[:], ra.prefix[:])
	binary.BigEndian.PutUint32(nonce[streamPrefixLen:], uint32(i))
	if last {
		nonce[nonceLen-1] = 1
	}
	pt, err := ra.aead.Open(ct[:0], nonce[:], ct, ra.aad)
	if err != nil {
		return nil, ErrStreamCorrupt
	}
	return pt, nil
}

// ReadAt implements io.ReaderAt.
func (ra *StreamReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset", ErrValidation)
	}
	if off >= ra.size {
		return 0, io.EOF
	}
	buf := make([]byte, ra.chunk+gcmTagLen)
	n := 0
	for n < len(p) && off < ra.size {
		i := off / int64(ra.chunk)
		pt, err := ra.readChunk(i, buf)
		if err != nil {
			return n, err
		}
		c := copy(p[n:], pt[off-i*int64(ra.chunk):])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
