package trainingdata

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// node is one decoded JSON value. Unlike map[string]any it keeps object
// keys in order and keeps duplicates, so that every string in the line is
// scanned.
type node struct {
	kind  byte   // '{' object, '[' array, '"' string, '0' number, 'b' bool, 'n' null
	s     string // a string's decoded value or a number's text
	keys  []string
	elems []node // object values (parallel to keys) or array elements
}

// maxDepth bounds nesting; the schemas need 5 levels.
const maxDepth = 64

var (
	errSyntax = errors.New("syntax error")
	errDepth  = errors.New("nested too deeply")
)

// parseJSON decodes one JSON value that must fill line. Its errors never
// quote the line. encoding/json validates the syntax; the decoding below
// relies on that and decodes strings exactly as encoding/json does (a lone
// surrogate escape becomes U+FFFD).
func parseJSON(line []byte) (node, error) {
	if !json.Valid(line) {
		return node{}, errSyntax
	}
	d := decoder{b: line}
	v, err := d.value(0)
	if err != nil {
		return node{}, err
	}
	if d.ws(); d.i != len(d.b) {
		return node{}, errSyntax
	}
	return v, nil
}

// decoder walks valid JSON.
type decoder struct {
	b []byte
	i int
}

func (d *decoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte, or 0 at the end.
func (d *decoder) next() byte {
	if d.ws(); d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) value(depth int) (node, error) {
	if depth > maxDepth {
		return node{}, errDepth
	}
	switch c := d.next(); c {
	case '{':
		d.i++
		v := node{kind: '{'}
		if d.next() == '}' {
			d.i++
			return v, nil
		}
		for {
			if d.next() != '"' {
				return node{}, errSyntax
			}
			k, err := d.str()
			if err != nil {
				return node{}, err
			}
			if d.next() != ':' {
				return node{}, errSyntax
			}
			d.i++
			e, err := d.value(depth + 1)
			if err != nil {
				return node{}, err
			}
			v.keys = append(v.keys, k)
			v.elems = append(v.elems, e)
			switch d.next() {
			case ',':
				d.i++
			case '}':
				d.i++
				return v, nil
			default:
				return node{}, errSyntax
			}
		}
	case '[':
		d.i++
		v := node{kind: '['}
		if d.next() == ']' {
			d.i++
			return v, nil
		}
		for {
			e, err := d.value(depth + 1)
			if err != nil {
				return node{}, err
			}
			v.elems = append(v.elems, e)
			switch d.next() {
			case ',':
				d.i++
			case ']':
				d.i++
				return v, nil
			default:
				return node{}, errSyntax
			}
		}
	case '"':
		s, err := d.str()
		return node{kind: '"', s: s}, err
	case 't', 'n':
		d.i += 4
		if c == 't' {
			return node{kind: 'b'}, nil
		}
		return node{kind: 'n'}, nil
	case 'f':
		d.i += 5
		return node{kind: 'b'}, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		start := d.i
		for d.i < len(d.b) && strings.IndexByte("+-.eE0123456789", d.b[d.i]) >= 0 {
			d.i++
		}
		return node{kind: '0', s: string(d.b[start:d.i])}, nil
	}
	return node{}, errSyntax
}

// str decodes the string starting at d.b[d.i] == '"'.
func (d *decoder) str() (string, error) {
	d.i++
	start := d.i
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case '"':
			s := string(d.b[start:d.i])
			d.i++
			return s, nil
		case '\\':
			return d.unescape(start)
		}
		d.i++
	}
	return "", errSyntax
}

// unescape decodes a string with escapes from start, its first byte.
func (d *decoder) unescape(start int) (string, error) {
	out := append([]byte(nil), d.b[start:d.i]...)
	b := d.b
	for d.i < len(b) {
		c := b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out), nil
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		case d.i+1 >= len(b):
			return "", errSyntax
		}
		d.i += 2
		switch e := b[d.i-1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(b, d.i)
			if r < 0 {
				return "", errSyntax
			}
			d.i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if d.i+1 < len(b) && b[d.i] == '\\' && b[d.i+1] == 'u' {
					r2 = hex4(b, d.i+2)
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					d.i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", errSyntax
		}
	}
	return "", errSyntax
}

// hex4 returns the value of the 4 hex digits at b[i:], or -1.
func hex4(b []byte, i int) rune {
	if i+4 > len(b) {
		return -1
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// has reports whether object v has key k.
func (v *node) has(k string) bool { return v.get(k) != nil }

// get returns the (first) value of key k of object v, or nil.
func (v *node) get(k string) *node {
	for i, kk := range v.keys {
		if kk == k {
			return &v.elems[i]
		}
	}
	return nil
}

// dup reports whether object v has a key twice.
func dup(v *node) bool {
	if len(v.keys) < 2 {
		return false
	}
	seen := make(map[string]struct{}, len(v.keys))
	for _, k := range v.keys {
		if _, ok := seen[k]; ok {
			return true
		}
		seen[k] = struct{}{}
	}
	return false
}

// schemaKey reports whether k is a field name of some schema; only these
// appear in JSON paths, so that a path never repeats file content.
func schemaKey(k string) bool {
	switch k {
	case "prompt", "completion", "input", "schemaVersion", "system", "messages", "role", "content", "text":
		return true
	}
	return false
}

// collect appends the scannable values under v, in document order, with
// their JSON paths. It leaves out the schema's constants (a conversation's
// schemaVersion and roles), which hold no data, and keys that are schema
// field names. Other keys are scanned too, at path "<parent>.*".
func collect(v *node, path string, out *[]value) {
	switch v.kind {
	case '"', '0':
		*out = append(*out, value{path: path, s: v.s})
	case '[':
		for i := range v.elems {
			collect(&v.elems[i], path+"["+strconv.Itoa(i)+"]", out)
		}
	case '{':
		for i, k := range v.keys {
			e := &v.elems[i]
			if !schemaKey(k) {
				*out = append(*out, value{path: path + ".*", s: k, key: true})
				collect(e, path+".*", out)
				continue
			}
			if e.kind == '"' && (k == "schemaVersion" && e.s == ConversationSchema ||
				k == "role" && (e.s == "user" || e.s == "assistant")) {
				continue
			}
			collect(e, path+"."+k, out)
		}
	}
}
