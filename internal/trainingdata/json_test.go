package trainingdata

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"
	"unicode/utf8"
)

// parseJSONOracle is the straightforward decoder on encoding/json tokens
// that parseJSON replaced for speed; it is the oracle of FuzzParseJSON.
// It decodes one JSON value that must fill line. Its errors never
// quote the line.
func parseJSONOracle(line []byte) (node, error) {
	if !json.Valid(line) {
		return node{}, errSyntax
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return node{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return node{}, errSyntax
	}
	return v, nil
}

func parseValue(dec *json.Decoder, depth int) (node, error) {
	if depth > maxDepth {
		return node{}, errDepth
	}
	tok, err := dec.Token()
	if err != nil {
		return node{}, errSyntax
	}
	switch t := tok.(type) {
	case string:
		return node{kind: '"', s: t}, nil
	case json.Number:
		return node{kind: '0', s: string(t)}, nil
	case bool:
		return node{kind: 'b'}, nil
	case nil:
		return node{kind: 'n'}, nil
	case json.Delim:
		switch t {
		case '{':
			v := node{kind: '{'}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return node{}, errSyntax
				}
				k, ok := kt.(string)
				if !ok {
					return node{}, errSyntax
				}
				e, err := parseValue(dec, depth+1)
				if err != nil {
					return node{}, err
				}
				v.keys = append(v.keys, k)
				v.elems = append(v.elems, e)
			}
			if _, err := dec.Token(); err != nil {
				return node{}, errSyntax
			}
			return v, nil
		case '[':
			v := node{kind: '['}
			for dec.More() {
				e, err := parseValue(dec, depth+1)
				if err != nil {
					return node{}, err
				}
				v.elems = append(v.elems, e)
			}
			if _, err := dec.Token(); err != nil {
				return node{}, errSyntax
			}
			return v, nil
		}
	}
	return node{}, errSyntax
}

var jsonSeeds = []string{
	`{"a": "b\u00e9\ud83d\ude00 \ud83d x \udc00\ud800\u0041", "n": -1.5e+3, "t": [true, false, null, {}, []]}`,
	`"\"\\\/\b\f\n\r\t"`, `  [1 , 2 ]  `, `{"k":{"k":{"k":[]}}}`, `0`, `{"a":1,"a":2}`, `"\ud800\ud800\udc00"`, `"\uD83D\uDE00"`,
}

// FuzzParseJSON checks parseJSON against the encoding/json token decoder.
func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	for _, tc := range readCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		got, gerr := parseJSON(b)
		want, werr := parseJSONOracle(b)
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("parseJSON(%q) = %+v, %v; oracle %+v, %v", b, got, gerr, want, werr)
		}
	})
}

func TestParseJSONSeeds(t *testing.T) {
	for _, s := range jsonSeeds {
		got, gerr := parseJSON([]byte(s))
		want, werr := parseJSONOracle([]byte(s))
		if gerr != nil || werr != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseJSON(%q) = %+v, %v; oracle %+v, %v", s, got, gerr, want, werr)
		}
	}
}
