package trainingdata

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Customization types, as Bedrock names them.
const (
	FineTuning           = "FINE_TUNING"
	ContinuedPreTraining = "CONTINUED_PRE_TRAINING"
)

// ConversationSchema is the schemaVersion of the conversation format.
const ConversationSchema = "bedrock-conversation-2024"

// Record is one training example.
type Record struct {
	Line   int    // 1-based line in the file
	System string // conversation format's system text (blocks joined by "\n"), or ""
	// Turns holds the text in order: a prompt/completion pair becomes
	// [{user, prompt}, {assistant, completion}], a conversation one turn
	// per message (content blocks joined by "\n"), and continued
	// pre-training's {"input"} one turn with Role "".
	Turns []Turn
	// Conversation is set for the bedrock-conversation-2024 format.
	Conversation bool
}

// Turn is one message of a record.
type Turn struct {
	Role string // "user", "assistant", or "" for continued pre-training text
	Text string
}

// Limits bound one data file. A zero or negative field takes its default.
type Limits struct {
	// MaxBytes bounds the whole file. Default 1 GiB for FINE_TUNING and
	// 10 GiB for CONTINUED_PRE_TRAINING; callers pass 100 MiB for
	// validation files.
	MaxBytes int64
	// MaxRecords bounds the number of records. Default 10,000.
	MaxRecords int
	// MaxRecordChars bounds the characters (runes) of one record's text:
	// system text plus every turn. Default 4096*6, Bedrock's cap of 4,096
	// tokens at its planning rule of 6 characters per token.
	MaxRecordChars int
}

// Default limits.
const (
	DefaultMaxBytesFT     = 1 << 30
	DefaultMaxBytesCPT    = 10 << 30
	DefaultMaxRecords     = 10000
	DefaultMaxRecordChars = 4096 * 6
)

// withDefaults fills in the zero fields of lim.
func (lim Limits) withDefaults(typ string) Limits {
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultMaxBytesFT
		if typ == ContinuedPreTraining {
			lim.MaxBytes = DefaultMaxBytesCPT
		}
	}
	if lim.MaxRecords <= 0 {
		lim.MaxRecords = DefaultMaxRecords
	}
	if lim.MaxRecordChars <= 0 {
		lim.MaxRecordChars = DefaultMaxRecordChars
	}
	return lim
}

// maxLine is the longest line accepted: every character of a record may
// take up to 12 bytes when JSON-escaped (a surrogate pair of \u escapes),
// plus room for the conversation format's structure.
func (lim Limits) maxLine() int {
	n := int64(lim.MaxRecordChars)*12 + 64<<10
	if n > lim.MaxBytes+1 {
		n = lim.MaxBytes + 1
	}
	return int(min(n, 1<<30))
}

// FormatError reports a file that breaks the format or a limit. Line is the
// 1-based line at fault, or 0 for the file as a whole. Msg never quotes
// file content.
type FormatError struct {
	Line int
	Msg  string
}

func (e *FormatError) Error() string { return e.Msg }

func lineErr(line int, format string, args ...any) *FormatError {
	return &FormatError{Line: line, Msg: fmt.Sprintf("Input data at line %d ", line) + fmt.Sprintf(format, args...)}
}

// Bedrock's wording for a record of the wrong shape.
const (
	promptFormat = `must follow '{"prompt": "<input text>", "completion": "<output text>"}' format`
	inputFormat  = `must follow '{"input": "<input text>"}' format`
	convFormat   = `must follow '{"schemaVersion": "bedrock-conversation-2024", "system": [{"text": "<system text>"}], ` +
		`"messages": [{"role": "user", "content": [{"text": "<user text>"}]}, {"role": "assistant", "content": [{"text": "<assistant text>"}]}]}' format`
)

// errTooBig is returned by countReader once more than its limit was read.
var errTooBig = errors.New("trainingdata: file too big")

// countReader counts (and optionally hashes) the bytes read through it and
// fails once more than max were read.
type countReader struct {
	r   io.Reader
	n   int64
	max int64
	h   io.Writer // or nil
}

func (c *countReader) Read(p []byte) (int, error) {
	if c.n > c.max {
		return 0, errTooBig
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.h != nil && n > 0 {
		c.h.Write(p[:n])
	}
	if c.n > c.max {
		return n, errTooBig
	}
	return n, err
}

// parser reads records line by line; Read and Check share it.
type parser struct {
	typ  string
	lim  Limits
	cr   *countReader
	br   *bufio.Reader
	buf  []byte
	line int   // lines read
	off  int64 // bytes of the lines read
	recs []Record
	strs []value // the current line's scannable values
	// onLine, if set, is called for each non-blank line after parsing, with
	// the record's index and with the raw line when it is not valid JSON
	// (p.strs is then empty).
	onLine func(p *parser, rec int, raw []byte)
}

// value is one scannable JSON value of a line: a string or number, or an
// object key that is not a schema field name.
type value struct {
	path string
	s    string
	key  bool
}

func newParser(r io.Reader, typ string, lim Limits, h io.Writer) (*parser, error) {
	if typ != FineTuning && typ != ContinuedPreTraining {
		return nil, fmt.Errorf("trainingdata: unsupported customization type %q", typ)
	}
	lim = lim.withDefaults(typ)
	cr := &countReader{r: r, max: lim.MaxBytes, h: h}
	return &parser{typ: typ, lim: lim, cr: cr, br: bufio.NewReaderSize(cr, 64<<10)}, nil
}

// Read parses a JSON Lines file of the given customization type. Accepted
// per line (blank lines, a UTF-8 byte order mark at the start and CRLF line
// ends are allowed):
//
//   - FINE_TUNING: {"prompt": "...", "completion": "..."} or the
//     conversation format {"schemaVersion": "bedrock-conversation-2024",
//     "system": [{"text": "..."}], "messages": [{"role": "user", "content":
//     [{"text": "..."}]}, {"role": "assistant", ...}, ...]} whose messages
//     alternate user/assistant, start with user and end with assistant;
//     system is optional.
//   - CONTINUED_PRE_TRAINING: {"input": "..."}.
//
// The prompt may be empty; the completion, the input, and every text block
// of a conversation must hold non-blank text (there would be nothing to
// learn, and Bedrock's Converse API rejects blank text blocks). Unknown
// fields, duplicate fields and invalid UTF-8 are errors. A bad line or a
// broken limit is a *FormatError naming the line, in Bedrock's wording
// where it has one; it never quotes file content. An unknown
// customization type is a plain error.
func Read(r io.Reader, customizationType string, lim Limits) ([]Record, error) {
	p, err := newParser(r, customizationType, lim, nil)
	if err != nil {
		return nil, err
	}
	if err := p.run(); err != nil {
		return nil, err
	}
	return p.recs, nil
}

// run parses every line, stopping at the first error.
func (p *parser) run() error {
	for {
		raw, err := p.next()
		if raw == nil {
			if err != nil {
				return err
			}
			if len(p.recs) == 0 {
				return &FormatError{Msg: "Input data has no records"}
			}
			return nil
		}
		if ferr := p.parseLine(raw); ferr != nil {
			return ferr
		}
	}
}

// next returns the next line without its line end, or nil and the error
// that ends the file (nil at its end).
func (p *parser) next() ([]byte, error) {
	p.buf = p.buf[:0]
	max := p.lim.maxLine()
	for {
		frag, err := p.br.ReadSlice('\n')
		if len(p.buf)+len(frag) > max+2 { // room for "\r\n"
			if errors.Is(err, errTooBig) {
				return nil, p.tooBig()
			}
			return nil, lineErr(p.line+1, "is longer than the limit of %d bytes", max)
		}
		p.buf = append(p.buf, frag...)
		switch {
		case err == nil:
			return p.got()
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(p.buf) == 0 {
				return nil, nil
			}
			return p.got()
		case errors.Is(err, errTooBig):
			return nil, p.tooBig()
		default:
			return nil, err
		}
	}
}

// got accounts for the line in p.buf.
func (p *parser) got() ([]byte, error) {
	p.off += int64(len(p.buf))
	if p.off > p.lim.MaxBytes {
		return nil, p.tooBig()
	}
	p.line++
	return trimEOL(p.buf), nil
}

func (p *parser) tooBig() error {
	return &FormatError{Line: p.line + 1, Msg: fmt.Sprintf("Input data exceeds the file size limit of %d bytes", p.lim.MaxBytes)}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// parseLine turns one line into a record appended to p.recs, or returns
// the line's format error. p.strs holds the line's scannable values
// afterwards (empty when the line is not valid JSON).
func (p *parser) parseLine(raw []byte) *FormatError {
	if p.line == 1 {
		raw = bytes.TrimPrefix(raw, []byte("\uFEFF"))
	}
	p.strs = p.strs[:0]
	if blank(raw) {
		return nil
	}
	idx := len(p.recs) // the record's index, also for a bad line
	var ferr *FormatError
	var root node
	if !utf8.Valid(raw) {
		ferr = lineErr(p.line, "is not valid UTF-8")
	} else {
		var err error
		if root, err = parseJSON(raw); err != nil {
			ferr = lineErr(p.line, "is not valid JSON: %v", err)
		}
	}
	parsed := ferr == nil
	if parsed {
		collect(&root, "$", &p.strs)
		var rec Record
		rec, ferr = p.record(&root)
		if ferr == nil && len(p.recs) >= p.lim.MaxRecords {
			ferr = lineErr(p.line, "is record %d, over the limit of %d records", len(p.recs)+1, p.lim.MaxRecords)
		}
		if ferr == nil {
			p.recs = append(p.recs, rec)
		}
	}
	if p.onLine != nil {
		if parsed {
			p.onLine(p, idx, nil)
		} else {
			p.onLine(p, idx, raw)
		}
	}
	return ferr
}

// record checks root against the schema of p.typ.
func (p *parser) record(root *node) (Record, *FormatError) {
	rec := Record{Line: p.line}
	bad := func(format string) (Record, *FormatError) { return Record{}, lineErr(p.line, "%s", format) }
	if root.kind != '{' {
		if p.typ == ContinuedPreTraining {
			return bad(inputFormat)
		}
		return bad(promptFormat)
	}
	if dup(root) {
		return bad("has a duplicate field")
	}
	if p.typ == ContinuedPreTraining {
		in, ok := onlyStrings(root, "input")
		if !ok {
			return bad(inputFormat)
		}
		if strings.TrimSpace(in[0]) == "" {
			return bad("has an empty input")
		}
		rec.Turns = []Turn{{Text: in[0]}}
		return rec, p.checkChars(rec)
	}
	if root.has("messages") || root.has("schemaVersion") || root.has("system") {
		return p.conversation(root)
	}
	pc, ok := onlyStrings(root, "prompt", "completion")
	if !ok {
		return bad(promptFormat)
	}
	if strings.TrimSpace(pc[1]) == "" {
		return bad("has an empty completion")
	}
	rec.Turns = []Turn{{Role: "user", Text: pc[0]}, {Role: "assistant", Text: pc[1]}}
	return rec, p.checkChars(rec)
}

func (p *parser) checkChars(rec Record) *FormatError {
	n := utf8.RuneCountInString(rec.System)
	for _, t := range rec.Turns {
		n += utf8.RuneCountInString(t.Text)
	}
	if n > p.lim.MaxRecordChars {
		return lineErr(p.line, "has %d characters, over the limit of %d characters per record", n, p.lim.MaxRecordChars)
	}
	return nil
}

// conversation checks the bedrock-conversation-2024 format.
func (p *parser) conversation(root *node) (Record, *FormatError) {
	rec := Record{Line: p.line, Conversation: true}
	bad := func(msg string) (Record, *FormatError) { return Record{}, lineErr(p.line, "%s", msg) }
	for i, k := range root.keys {
		v := &root.elems[i]
		switch k {
		case "schemaVersion":
			if v.kind != '"' || v.s != ConversationSchema {
				return bad(`must set "schemaVersion" to "` + ConversationSchema + `"`)
			}
		case "system":
			texts, ok := textBlocks(v)
			if !ok {
				return bad(convFormat)
			}
			for _, t := range texts {
				if strings.TrimSpace(t) == "" {
					return bad("has a blank system text block")
				}
			}
			rec.System = strings.Join(texts, "\n")
		case "messages":
			if v.kind != '[' {
				return bad(convFormat)
			}
			for j := range v.elems {
				m := &v.elems[j]
				if m.kind != '{' || len(m.keys) != 2 || dup(m) || !m.has("role") || !m.has("content") {
					return bad(convFormat)
				}
				role, content := m.get("role"), m.get("content")
				if role.kind != '"' || role.s != "user" && role.s != "assistant" {
					return bad(`has a message whose role is neither "user" nor "assistant"`)
				}
				want := "user"
				if j%2 == 1 {
					want = "assistant"
				}
				if role.s != want {
					return bad("must alternate user and assistant messages, starting with user")
				}
				texts, ok := textBlocks(content)
				if !ok || len(texts) == 0 {
					return bad(convFormat)
				}
				for _, t := range texts {
					if strings.TrimSpace(t) == "" {
						return bad("has a blank message text block")
					}
				}
				rec.Turns = append(rec.Turns, Turn{Role: role.s, Text: strings.Join(texts, "\n")})
			}
		default:
			return bad(convFormat)
		}
	}
	if !root.has("schemaVersion") {
		return bad(`must set "schemaVersion" to "` + ConversationSchema + `"`)
	}
	if len(rec.Turns) == 0 {
		return bad("must have messages")
	}
	if rec.Turns[len(rec.Turns)-1].Role != "assistant" {
		return bad("must end with an assistant message")
	}
	return rec, p.checkChars(rec)
}

// textBlocks returns the texts of an array of {"text": "..."} objects.
func textBlocks(v *node) ([]string, bool) {
	if v.kind != '[' {
		return nil, false
	}
	out := make([]string, 0, len(v.elems))
	for i := range v.elems {
		t, ok := onlyStrings(&v.elems[i], "text")
		if !ok {
			return nil, false
		}
		out = append(out, t[0])
	}
	return out, true
}

// onlyStrings returns the string values of exactly the fields names of the
// object v, in that order.
func onlyStrings(v *node, names ...string) ([]string, bool) {
	if v.kind != '{' || len(v.keys) != len(names) || dup(v) {
		return nil, false
	}
	out := make([]string, len(names))
	for i, n := range names {
		f := v.get(n)
		if f == nil || f.kind != '"' {
			return nil, false
		}
		out[i] = f.s
	}
	return out, true
}
