package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// errMalformed wraps every protocol error in a reply.
var errMalformed = errors.New("h1: malformed HTTP response")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// readResponse reads a response head for req from c: informational (1xx)
// heads are skipped. It sets p.replied once a byte has arrived.
func (c *conn) readResponse(req *http.Request, p *progress) (*http.Response, error) {
	limit := c.t.maxHeaderBytes()
	for {
		resp, err := readHead(c.br, limit, p)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return nil, malformed("the server switched protocols")
		}
		if resp.StatusCode >= 200 {
			resp.Request = req
			if req.Close {
				resp.Close = true
			}
			return resp, nil
		}
	}
}

// readLine returns the next line without its CRLF (or LF), reading at most
// *budget bytes; the slice is valid until the next read from br.
func readLine(br *bufio.Reader, budget *int) ([]byte, error) {
	return readLineEnd(br, budget, false)
}

// readCRLFLine is readLine for chunked framing, where a line must end in
// CRLF (RFC 9112 errata 7633).
func readCRLFLine(br *bufio.Reader, budget *int) ([]byte, error) {
	return readLineEnd(br, budget, true)
}

func readLineEnd(br *bufio.Reader, budget *int, crlf bool) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A line longer than the buffer: gather it, within the budget.
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			if len(long) > *budget {
				return nil, malformed("a header line is too long")
			}
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	*budget -= len(line)
	if *budget < 0 {
		return nil, malformed("the response head is too long")
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	} else if crlf {
		return nil, malformed("a chunked line ends with a bare LF")
	}
	return line, nil
}

// readHead reads one status line and its header fields.
func readHead(br *bufio.Reader, limit int, p *progress) (*http.Response, error) {
	budget := limit
	if _, err := br.Peek(1); err != nil {
		return nil, err
	}
	p.replied = true
	line, err := readLine(br, &budget)
	if err != nil {
		return nil, unexpected(err)
	}
	resp := &http.Response{ContentLength: -1}
	if err := parseStatus(string(line), resp); err != nil {
		return nil, err
	}
	// The fields' values are gathered in one buffer and become one string,
	// and all of them share one []string: a reply's head costs a handful of
	// allocations rather than three a field.
	type field struct {
		key        string
		start, end int
	}
	var fieldsArr [16]field
	var valuesArr [512]byte
	fields, values := fieldsArr[:0], valuesArr[:0]
	for {
		line, err := readLine(br, &budget)
		if err != nil {
			return nil, unexpected(err)
		}
		if len(line) == 0 {
			break
		}
		name, value, err := parseField(line)
		if err != nil {
			return nil, err
		}
		key, ok := commonKeys[string(name)]
		if !ok {
			key = textproto.CanonicalMIMEHeaderKey(string(name))
		}
		fields = append(fields, field{key, len(values), len(values) + len(value)})
		values = append(values, value...)
	}
	all := string(values)
	strs := make([]string, len(fields))
	h := make(http.Header, len(fields))
	for i, f := range fields {
		strs[i] = all[f.start:f.end]
		if vv, ok := h[f.key]; ok {
			h[f.key] = append(vv, strs[i])
		} else {
			h[f.key] = strs[i : i+1 : i+1]
		}
	}
	resp.Header = h
	return resp, frame(resp)
}

// commonKeys maps the field names model servers send most, as written
// (canonical, or lower case as uvicorn and others write them), to their
// canonical form, so that reading them allocates nothing.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Content-Type", "Content-Length", "Transfer-Encoding", "Date", "Server",
		"Connection", "Keep-Alive", "Cache-Control", "Content-Encoding", "Retry-After", "Vary",
		"X-Request-Id", "X-Amzn-Requestid", "X-Amzn-Errortype", "Access-Control-Allow-Origin", "Trailer"} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	return m
}()

// parseField splits a header or trailer field line into its name and
// value, checking both.
func parseField(line []byte) (name, value []byte, err error) {
	if line[0] == ' ' || line[0] == '\t' {
		return nil, nil, malformed("obsolete header line folding")
	}
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, malformed("a header line without a colon")
	}
	name = line[:i]
	for _, b := range name {
		if !isTokenByte(b) {
			return nil, nil, malformed("invalid header name %q", clip(string(name)))
		}
	}
	value = bytes.Trim(line[i+1:], " \t")
	for _, b := range value {
		if b < ' ' && b != '\t' || b == 0x7f {
			return nil, nil, malformed("invalid byte in the value of header %s", name)
		}
	}
	return name, value, nil
}

// unexpected turns an end of input inside a head into ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return fmt.Errorf("%w: the reply ended inside its head", errMalformed)
	}
	return err
}

// parseStatus parses "HTTP/1.1 200 OK" into resp.
func parseStatus(line string, resp *http.Response) error {
	proto, rest, ok := strings.Cut(line, " ")
	if !ok {
		return malformed("status line %q", clip(line))
	}
	switch proto {
	case "HTTP/1.1":
		resp.ProtoMinor = 1
	case "HTTP/1.0":
		resp.ProtoMinor = 0
	default:
		return malformed("protocol %q", clip(proto))
	}
	resp.Proto, resp.ProtoMajor = proto, 1
	code, _, _ := strings.Cut(rest, " ")
	if len(code) != 3 {
		return malformed("status code %q", clip(code))
	}
	n, err := strconv.Atoi(code)
	if err != nil || n < 100 {
		return malformed("status code %q", clip(code))
	}
	resp.StatusCode, resp.Status = n, rest
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// frame works out how the body is delimited and whether the connection
// stays open after it, from the head's fields, as RFC 9112 section 6 says.
func frame(resp *http.Response) error {
	h := resp.Header
	n := int64(-1)
	for _, v := range h["Content-Length"] {
		m, err := strconv.ParseInt(v, 10, 64)
		if err != nil || m < 0 || v == "" || v[0] == '+' {
			return malformed("Content-Length %q", clip(v))
		}
		if n >= 0 && m != n {
			return malformed("conflicting Content-Length fields")
		}
		n = m
	}
	if te, ok := h["Transfer-Encoding"]; ok {
		// Only chunked is supported, and then it must be the one coding.
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return malformed("unsupported transfer coding %q", clip(strings.Join(te, ",")))
		}
		if resp.ProtoMinor == 0 {
			return malformed("chunked transfer coding in an HTTP/1.0 reply")
		}
		resp.TransferEncoding = []string{"chunked"}
		// Content-Length is ignored beside a transfer coding.
		delete(h, "Content-Length")
	} else {
		resp.ContentLength = n
	}
	conn := strings.ToLower(strings.Join(h["Connection"], ","))
	switch {
	case strings.Contains(conn, "close"):
		resp.Close = true
	case resp.ProtoMinor == 0 && !strings.Contains(conn, "keep-alive"):
		resp.Close = true
	}
	return nil
}

// maxChunkLine bounds a chunk-size line (size and extensions).
const maxChunkLine = 4096

// readChunkSize reads a chunk-size line ("1a;ext=x") and returns the size.
func readChunkSize(br *bufio.Reader) (int64, error) {
	budget := maxChunkLine
	line, err := readCRLFLine(br, &budget)
	if err != nil {
		return 0, chunkEOF(err)
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, malformed("chunk size %q", clip(string(line)))
	}
	var n int64
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, malformed("chunk size %q", clip(string(line)))
		}
		n = n<<4 | int64(d)
	}
	return n, nil
}

// readCRLF reads the line end that closes a chunk's data.
func readCRLF(br *bufio.Reader) error {
	b, err := br.ReadByte()
	if err == nil {
		if b != '\r' {
			return malformed("chunk data longer than its size")
		}
		b, err = br.ReadByte()
	}
	if err != nil {
		return chunkEOF(err)
	}
	if b != '\n' {
		return malformed("chunk data not followed by CRLF")
	}
	return nil
}

// skipTrailers reads the trailer section after the last chunk, up to its
// empty line.
func skipTrailers(br *bufio.Reader, limit int) error {
	budget := limit
	for {
		line, err := readCRLFLine(br, &budget)
		if err != nil {
			return chunkEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
		if _, _, err := parseField(line); err != nil {
			return err
		}
	}
}

// chunkEOF turns an end of input inside chunked framing into
// ErrUnexpectedEOF.
func chunkEOF(err error) error {
	if err == io.EOF {
		return fmt.Errorf("%w: the reply ended inside its chunked body", errMalformed)
	}
	return err
}
