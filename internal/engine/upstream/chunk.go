package upstream

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// decodeChunk decodes one streamed chunk into c as json.Unmarshal would,
// several times faster, for the chunks OpenAI-compatible servers send: it
// reads only the fields chunkJSON has and skips the rest. It returns false,
// with c in any state, as soon as it meets anything it does not handle
// exactly as json.Unmarshal does (malformed JSON, a key that only matches
// a field ignoring case, a repeated field, a number that is not of the
// field's type, a UTF-16 surrogate escape, invalid UTF-8, deep nesting);
// the caller then decodes with json.Unmarshal, which also reports the error.
// FuzzDecodeChunk holds the two to the same results.
func decodeChunk(data []byte, c *chunkJSON) bool {
	d := chunkDecoder{data: data}
	if !d.chunk(c) {
		return false
	}
	d.space()
	return d.i == len(d.data)
}

type chunkDecoder struct {
	data []byte
	i    int
}

// maxSkipDepth bounds the nesting of skipped values.
const maxSkipDepth = 64

func (d *chunkDecoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (d *chunkDecoder) peek() byte {
	d.space()
	if d.i == len(d.data) {
		return 0
	}
	return d.data[d.i]
}

func (d *chunkDecoder) consume(b byte) bool {
	if d.peek() != b {
		return false
	}
	d.i++
	return true
}

// null consumes a null literal if one is next.
func (d *chunkDecoder) null() bool {
	if d.peek() == 'n' && len(d.data)-d.i >= 4 && string(d.data[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// object calls field for each key of an object, which must consume the
// key's value. Keys with escapes are refused; field sees the raw key.
func (d *chunkDecoder) object(field func(key []byte) bool) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	for {
		if d.peek() != '"' {
			return false
		}
		d.i++
		start := d.i
		for d.i < len(d.data) && d.data[d.i] != '"' {
			if c := d.data[d.i]; c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				return false
			}
			d.i++
		}
		if d.i == len(d.data) {
			return false
		}
		key := d.data[start:d.i]
		d.i++
		if !d.consume(':') || !field(key) {
			return false
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

// array calls elem for each element of an array, which must consume it.
func (d *chunkDecoder) array(elem func() bool) bool {
	if !d.consume('[') {
		return false
	}
	if d.consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return true
		default:
			return false
		}
	}
}

// fields tracks which known keys of an object were seen. A key that
// matches a known name only ignoring case, or a known key seen twice, makes
// the decoder give up: json.Unmarshal's rules for those are not worth
// copying.
type fields struct {
	names []string
	seen  uint32
}

// match returns the index of key among the names, -1 for an unknown key,
// or -2 to give up.
func (f *fields) match(key []byte) int {
	for i, n := range f.names {
		if string(key) == n {
			if f.seen&(1<<i) != 0 {
				return -2
			}
			f.seen |= 1 << i
			return i
		}
		if len(key) == len(n) && equalFoldASCII(key, n) {
			return -2
		}
	}
	return -1
}

func equalFoldASCII(b []byte, s string) bool {
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

var (
	chunkFields    = []string{"choices", "usage", "error"}
	choiceFields   = []string{"index", "delta", "text", "logprobs", "finish_reason", "stop_reason", "message"}
	deltaFields    = []string{"content"}
	logprobsFields = []string{"content", "tokens", "token_logprobs"}
	contentFields  = []string{"token", "logprob"}
	usageFields    = []string{"prompt_tokens", "completion_tokens"}
)

func (d *chunkDecoder) chunk(c *chunkJSON) bool {
	f := fields{names: chunkFields}
	return d.object(func(key []byte) bool {
		switch f.match(key) {
		case 0:
			if d.null() {
				c.Choices = nil
				return true
			}
			c.Choices = make([]choiceJSON, 0, 1)
			return d.array(func() bool {
				c.Choices = append(c.Choices, choiceJSON{})
				return d.choice(&c.Choices[len(c.Choices)-1])
			})
		case 1:
			if d.null() {
				c.Usage = nil
				return true
			}
			c.Usage = &usageJSON{}
			u := fields{names: usageFields}
			return d.object(func(key []byte) bool {
				switch u.match(key) {
				case 0:
					return d.int(&c.Usage.PromptTokens)
				case 1:
					return d.int(&c.Usage.CompletionTokens)
				case -1:
					return d.skip(0)
				}
				return false
			})
		case 2:
			return d.raw(&c.Error)
		case -1:
			return d.skip(0)
		}
		return false
	})
}

func (d *chunkDecoder) choice(ch *choiceJSON) bool {
	f := fields{names: choiceFields}
	return d.object(func(key []byte) bool {
		switch f.match(key) {
		case 0:
			return d.int(&ch.Index)
		case 1:
			return d.content(&ch.Delta.Content)
		case 6:
			return d.content(&ch.Message.Content)
		case 2:
			return d.stringPtr(&ch.Text)
		case 3:
			return d.logprobs(&ch.Logprobs)
		case 4:
			return d.stringPtr(&ch.FinishReason)
		case 5:
			return d.raw(&ch.StopReason)
		case -1:
			return d.skip(0)
		}
		return false
	})
}

// content decodes a delta or message object, {"content": ...}, into p.
func (d *chunkDecoder) content(p **string) bool {
	if d.null() {
		return true
	}
	g := fields{names: deltaFields}
	return d.object(func(key []byte) bool {
		switch g.match(key) {
		case 0:
			return d.stringPtr(p)
		case -1:
			return d.skip(0)
		}
		return false
	})
}

func (d *chunkDecoder) logprobs(p **logprobsJSON) bool {
	if d.null() {
		*p = nil
		return true
	}
	lp := &logprobsJSON{}
	*p = lp
	f := fields{names: logprobsFields}
	return d.object(func(key []byte) bool {
		switch f.match(key) {
		case 0:
			if d.null() {
				lp.Content = nil
				return true
			}
			lp.Content = make([]tokenLogprobJSON, 0, 1)
			return d.array(func() bool {
				lp.Content = append(lp.Content, tokenLogprobJSON{})
				t := &lp.Content[len(lp.Content)-1]
				g := fields{names: contentFields}
				return d.object(func(key []byte) bool {
					switch g.match(key) {
					case 0:
						if d.null() {
							return true
						}
						s, ok := d.string()
						t.Token = s
						return ok
					case 1:
						return d.float(&t.Logprob)
					case -1:
						return d.skip(0)
					}
					return false
				})
			})
		case 1:
			if d.null() {
				lp.Tokens = nil
				return true
			}
			lp.Tokens = make([]string, 0, 1)
			return d.array(func() bool {
				if d.null() {
					lp.Tokens = append(lp.Tokens, "")
					return true
				}
				s, ok := d.string()
				lp.Tokens = append(lp.Tokens, s)
				return ok
			})
		case 2:
			if d.null() {
				lp.TokenLogprobs = nil
				return true
			}
			lp.TokenLogprobs = make([]*float64, 0, 1)
			return d.array(func() bool {
				if d.null() {
					lp.TokenLogprobs = append(lp.TokenLogprobs, nil)
					return true
				}
				v := new(float64)
				lp.TokenLogprobs = append(lp.TokenLogprobs, v)
				return d.float(v)
			})
		case -1:
			return d.skip(0)
		}
		return false
	})
}

// stringPtr reads a string or null into *p.
func (d *chunkDecoder) stringPtr(p **string) bool {
	if d.null() {
		*p = nil
		return true
	}
	s, ok := d.string()
	*p = &s
	return ok
}

// string reads a string whose escapes are all of the simple kinds or \u
// outside the surrogates, and which is valid UTF-8.
func (d *chunkDecoder) string() (string, bool) {
	if d.peek() != '"' {
		return "", false
	}
	d.i++
	start := d.i
	ascii := true
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			s := d.data[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.i++
	}
	return "", false
}

// escaped finishes a string that has escapes, from its first byte at start.
func (d *chunkDecoder) escaped(start int) (string, bool) {
	d.i = start
	var b []byte
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(b) {
				return "", false
			}
			return string(b), true
		case c < 0x20:
			return "", false
		case c != '\\':
			b = append(b, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.data) {
			return "", false
		}
		e := d.data[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if d.i+4 > len(d.data) {
				return "", false
			}
			var r rune
			for _, h := range d.data[d.i : d.i+4] {
				v, ok := hexDigit(h)
				if !ok {
					return "", false
				}
				r = r<<4 | v
			}
			if r >= 0xd800 && r < 0xe000 {
				return "", false // a surrogate: json.Unmarshal pairs them
			}
			b = utf8.AppendRune(b, r)
			d.i += 4
		default:
			return "", false
		}
	}
	return "", false
}

func hexDigit(h byte) (rune, bool) {
	switch {
	case '0' <= h && h <= '9':
		return rune(h - '0'), true
	case 'a' <= h && h <= 'f':
		return rune(h - 'a' + 10), true
	case 'A' <= h && h <= 'F':
		return rune(h - 'A' + 10), true
	}
	return 0, false
}

// number returns the literal of a JSON number.
func (d *chunkDecoder) number() ([]byte, bool) {
	d.space()
	start := d.i
	n := len(d.data)
	if d.i < n && d.data[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < n && d.data[d.i] == '0':
		d.i++
	case d.i < n && d.data[d.i] >= '1' && d.data[d.i] <= '9':
		for d.i < n && d.data[d.i] >= '0' && d.data[d.i] <= '9' {
			d.i++
		}
	default:
		return nil, false
	}
	if d.i < n && d.data[d.i] == '.' {
		d.i++
		if d.i == n || d.data[d.i] < '0' || d.data[d.i] > '9' {
			return nil, false
		}
		for d.i < n && d.data[d.i] >= '0' && d.data[d.i] <= '9' {
			d.i++
		}
	}
	if d.i < n && (d.data[d.i] == 'e' || d.data[d.i] == 'E') {
		d.i++
		if d.i < n && (d.data[d.i] == '+' || d.data[d.i] == '-') {
			d.i++
		}
		if d.i == n || d.data[d.i] < '0' || d.data[d.i] > '9' {
			return nil, false
		}
		for d.i < n && d.data[d.i] >= '0' && d.data[d.i] <= '9' {
			d.i++
		}
	}
	return d.data[start:d.i], true
}

// int reads an integer literal (not null: json.Unmarshal leaves the field
// alone, and chunks never send it).
func (d *chunkDecoder) int(p *int) bool {
	lit, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(string(lit), 10, 0)
	*p = int(v)
	return err == nil
}

func (d *chunkDecoder) float(p *float64) bool {
	lit, ok := d.number()
	if !ok {
		return false
	}
	v, err := strconv.ParseFloat(string(lit), 64)
	*p = v
	return err == nil
}

// raw copies the next value's bytes, as json.RawMessage does.
func (d *chunkDecoder) raw(p *json.RawMessage) bool {
	d.space()
	start := d.i
	if !d.skip(0) {
		return false
	}
	*p = append((*p)[:0:0], d.data[start:d.i]...)
	return true
}

// skip consumes one valid JSON value.
func (d *chunkDecoder) skip(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	switch d.peek() {
	case '{':
		return d.object(func([]byte) bool { return d.skip(depth + 1) })
	case '[':
		return d.array(func() bool { return d.skip(depth + 1) })
	case '"':
		return d.skipString()
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		_, ok := d.number()
		return ok
	}
}

func (d *chunkDecoder) literal(s string) bool {
	if len(d.data)-d.i < len(s) || string(d.data[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// skipString consumes a string with valid escapes; any other bytes from
// 0x20 up are allowed, as json.Unmarshal allows them.
func (d *chunkDecoder) skipString() bool {
	d.i++
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if d.i+1 >= len(d.data) {
				return false
			}
			switch d.data[d.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i += 2
			case 'u':
				if d.i+6 > len(d.data) {
					return false
				}
				for _, h := range d.data[d.i+2 : d.i+6] {
					if _, ok := hexDigit(h); !ok {
						return false
					}
				}
				d.i += 6
			default:
				return false
			}
		default:
			d.i++
		}
	}
	return false
}
