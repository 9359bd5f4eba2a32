package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
)

// maxEvent bounds one server-sent event, so a misbehaving upstream cannot
// make strata buffer without limit.
const maxEvent = 1 << 20

// errEventTooLarge is returned for an event over maxEvent bytes.
var errEventTooLarge = errors.New("upstream: server-sent event too large")

// sseReader reads the data of server-sent events (text/event-stream) one
// event at a time. It keeps only the current event in memory.
type sseReader struct {
	r   *bufio.Reader
	buf []byte
}

// sseReaders keeps readers with their 16 KiB buffers between requests.
var sseReaders = sync.Pool{New: func() any { return &sseReader{r: bufio.NewReaderSize(nil, 16<<10)} }}

// newSSEReader returns a reader of r; release gives it back.
func newSSEReader(r io.Reader) *sseReader {
	s := sseReaders.Get().(*sseReader)
	s.r.Reset(r)
	return s
}

// release returns s to the pool. Neither s nor a slice it returned may be
// used after.
func (s *sseReader) release() {
	s.r.Reset(nil)
	if cap(s.buf) > 64<<10 {
		s.buf = nil // an unusually large event: let it go
	}
	s.buf = s.buf[:0]
	sseReaders.Put(s)
}

// next returns the data of the next event that has any, with multiple data
// lines joined by "\n". Comments and the event, id and retry fields are
// skipped. At the end of the stream it returns io.EOF, or
// io.ErrUnexpectedEOF when the stream ends inside an event. The returned
// slice is valid until the next call.
func (s *sseReader) next() ([]byte, error) {
	s.buf = s.buf[:0]
	hasData := false
	for {
		line, err := s.line()
		if err != nil {
			if err == io.EOF && hasData {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(line) == 0 {
			if hasData {
				return s.buf, nil
			}
			continue
		}
		field, value, found := bytes.Cut(line, []byte{':'})
		if !found {
			value = nil
		}
		if len(field) == 0 { // a comment
			continue
		}
		if string(field) != "data" {
			continue
		}
		value, _ = bytes.CutPrefix(value, []byte{' '})
		if hasData {
			s.buf = append(s.buf, '\n')
		}
		if len(s.buf)+len(value) > maxEvent {
			return nil, errEventTooLarge
		}
		s.buf = append(s.buf, value...)
		hasData = true
	}
}

// line reads one line without its "\n" or "\r\n", bounded by maxEvent. It
// returns io.EOF when no bytes are left and io.ErrUnexpectedEOF when the
// stream ends inside a line.
func (s *sseReader) line() ([]byte, error) {
	var long []byte
	for {
		frag, err := s.r.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			if len(long)+len(frag) > maxEvent {
				return nil, errEventTooLarge
			}
			long = append(long, frag...)
			continue
		case err == io.EOF:
			if len(long)+len(frag) == 0 {
				return nil, io.EOF
			}
			return nil, io.ErrUnexpectedEOF
		case err != nil:
			return nil, err
		}
		if long != nil {
			if len(long)+len(frag) > maxEvent {
				return nil, errEventTooLarge
			}
			frag = append(long, frag...)
		}
		frag = bytes.TrimSuffix(frag, []byte{'\n'})
		return bytes.TrimSuffix(frag, []byte{'\r'}), nil
	}
}
