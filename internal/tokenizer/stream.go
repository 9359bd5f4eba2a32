package tokenizer

import "unicode/utf8"

// StreamDecoder decodes generated ids one at a time. The concatenation of
// everything Next and Flush return equals Decode of all the ids; each piece
// is valid UTF-8, and bytes of a character split across tokens (byte
// fallback or byte-level pieces) are held back until the character is
// complete. A StreamDecoder is not safe for concurrent use.
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
	first   bool

	// KeepLeadingSpace, when set before the first Next, keeps the space that
	// SentencePiece-style decoders strip from the first piece. Set it when
	// the ids continue a prompt rather than start a text.
	KeepLeadingSpace bool
}

// NewStreamDecoder returns a decoder for a new sequence of ids.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t, first: true}
}

// Next adds one id and returns the text it completes (possibly "").
func (d *StreamDecoder) Next(id int) string {
	var ok bool
	d.pending, ok = d.t.appendTokenBytes(d.pending, id, d.first && !d.KeepLeadingSpace)
	if ok {
		d.first = false
	}
	n := completePrefix(d.pending)
	if n == 0 {
		return ""
	}
	out := validUTF8(d.pending[:n])
	d.pending = append(d.pending[:0], d.pending[n:]...)
	return out
}

// Flush returns whatever is held back, with incomplete characters replaced
// by U+FFFD, and resets the decoder's pending bytes.
func (d *StreamDecoder) Flush() string {
	out := validUTF8(d.pending)
	d.pending = d.pending[:0]
	return out
}

// completePrefix returns the length of the longest prefix of b that does not
// end inside a UTF-8 sequence that later bytes could still complete.
func completePrefix(b []byte) int {
	n := len(b)
	// Look back at most 3 bytes for the start of an incomplete sequence.
	for i := n - 1; i >= 0 && i >= n-3; i-- {
		c := b[i]
		if c < 0x80 {
			return n // ASCII: everything before is settled
		}
		if c >= 0xC0 { // a leading byte
			if !utf8.FullRune(b[i:]) {
				return i
			}
			return n
		}
	}
	return n
}
