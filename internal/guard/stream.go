package guard

import (
	"errors"
)

// ctxBytes is how much already-released text a Stream keeps (never
// re-emitted) so keyword look-backs see across chunk boundaries.
const ctxBytes = 64

// ErrStreamClosed is returned by Write after Close.
var ErrStreamClosed = errors.New("guard: stream closed")

// Stream masks card data in text that arrives in chunks, such as a model's
// streamed response. Write returns the part of the text seen so far that is
// final and masked; it holds back only the suffix that could still become
// (part of) a card number once more text arrives: an open run of digit
// groups short of 19 digits, a partial UTF-8 sequence, escape, character
// reference or tag. That suffix is at most MaxHoldback bytes; text that
// cannot join a card number is released at once. Close releases the rest.
//
// A card number split across chunks is found exactly as in the whole text
// (FuzzStream checks this). A Stream is not safe for concurrent use.
type Stream struct {
	repl    func(Finding) (string, error)
	ctx     string // up to ctxBytes of released raw text
	pending string // raw text not yet released
	base    int    // stream offset of pending[0]
	found   []Finding
	carry   int // digits of a group released mid-way (see scanner.carry)
	closed  bool
}

// NewStream returns a Stream that masks card data with MaskOf.
func NewStream() *Stream {
	return &Stream{repl: func(f Finding) (string, error) { return MaskOf(f), nil }}
}

// Write adds chunk and returns the masked text that is now final. On error
// the stream is closed and nothing more is released.
func (st *Stream) Write(chunk string) (string, error) {
	return st.step(chunk, false)
}

// Close releases the held-back text, masked.
func (st *Stream) Close() (string, error) {
	return st.step("", true)
}

// Findings returns the card data found so far, with offsets into the whole
// stream of raw text.
func (st *Stream) Findings() []Finding { return st.found }

// Held reports how many bytes are held back.
func (st *Stream) Held() int { return len(st.pending) }

func (st *Stream) step(chunk string, final bool) (string, error) {
	if st.closed {
		return "", ErrStreamClosed
	}
	if st.pending == "" && !hasCandidate(chunk) {
		// Nothing held and nothing in chunk can start a digit unit, so no
		// card data can be in it or continue from it: release it as is.
		st.base += len(chunk)
		if len(chunk) >= ctxBytes {
			st.ctx = chunk[len(chunk)-ctxBytes:]
		} else if chunk != "" {
			c := st.ctx + chunk
			st.ctx = c[max(0, len(c)-ctxBytes):]
		}
		st.carry = 0
		if final {
			st.closed = true
		}
		return chunk, nil
	}
	buf := st.ctx + st.pending + chunk
	off := len(st.ctx)
	sc := getScanner(buf, final, false)
	sc.carry = st.carry
	sc.run(off)
	safe := len(buf)
	if sc.hold >= 0 {
		safe = sc.hold
	}
	tail := sc.tailDigits
	fs := resolve(sc.out)
	sc.release()
	var rel []Finding
	for _, f := range fs {
		if f.Start < off || f.End > safe {
			st.closed = true
			return "", ErrUncleared
		}
		f.Start -= off
		f.End -= off
		rel = append(rel, f)
	}
	seg := buf[off:safe]
	out, err := replace(seg, rel, st.repl)
	if err == nil {
		// Re-check the masked text, scanning it as the stream did: from
		// after the raw context, which the look-behind rules (IBAN, UUID,
		// keywords) see exactly as in the whole text.
		err = st.verify(out)
	}
	if err != nil {
		st.closed = true
		return "", err
	}
	for _, f := range rel {
		f.Start += st.base
		f.End += st.base
		st.found = append(st.found, f)
	}
	st.base += len(seg)
	released := buf[:safe]
	st.ctx = released[max(0, len(released)-ctxBytes):]
	st.pending = buf[safe:]
	st.carry = 0
	if safe == len(buf) && tail > 0 {
		st.carry = tail
	}
	if final {
		st.closed = true
	}
	return out, nil
}

// verify fails if the masked segment out, read after the raw context,
// still holds a card number.
func (st *Stream) verify(out string) error {
	sc := getScanner(st.ctx+out, true, false)
	defer sc.release()
	sc.run(len(st.ctx))
	for _, f := range sc.out {
		if f.Type == CardNumber {
			return ErrUncleared
		}
	}
	return nil
}

// hasCandidate reports whether s holds a byte that may start a digit unit.
func hasCandidate(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if candMask(load8(s, i)) != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		if startClass[s[i]] {
			return true
		}
	}
	return false
}
