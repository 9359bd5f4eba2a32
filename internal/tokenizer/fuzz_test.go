package tokenizer

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// stories260KTokenizer builds the 512-piece byte-fallback tokenizer of
// stories260K, or skips when the shared data is missing.
func stories260KModel(t testing.TB) *SentencePieceModel {
	t.Helper()
	f, err := os.Open(sharedPath(t, "models", "stories260K", "tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := FromLlama2C(f, 512)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzEncodeDecode: for valid UTF-8, Decode(Encode(s)) == s under a
// byte-fallback vocabulary, and the stream decoder agrees with Decode.
func FuzzEncodeDecode(f *testing.F) {
	m := stories260KModel(f)
	tok, err := m.Tokenizer()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "Once upon a time", " leading", "日本語 😀", "</s><s>[INST]", "\x00\t\n", "a  b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s, true)
		for _, id := range ids[1:] {
			if tok.IsSpecial(id) {
				t.Fatalf("special id %d from plain text", id)
			}
		}
		sp := tok.EncodeSpecial(s)
		_ = tok.Decode(sp)
		if !utf8.ValidString(s) || strings.Contains(s, "▁") {
			_ = tok.Decode(ids) // "▁" in the text decodes as a space, by design
			return
		}
		if got := tok.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
		d := tok.NewStreamDecoder()
		var sb strings.Builder
		for _, id := range ids {
			sb.WriteString(d.Next(id))
		}
		sb.WriteString(d.Flush())
		if sb.String() != s {
			t.Fatalf("stream decode %q, want %q", sb.String(), s)
		}
	})
}

// FuzzLoadSentencePiece: arbitrary bytes never panic; what loads encodes.
func FuzzLoadSentencePiece(f *testing.F) {
	m := stories260KModel(f)
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	good := buf.Bytes()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x0a, 0x05, 0x0a, 0x01, 'a', 0x18, 0x01})
	f.Add([]byte{0x12, 0x02, 0x18, 0x02, 0x0a, 0x04, 0x0a, 0x02, 'a', 'b'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := LoadSentencePiece(bytes.NewReader(data))
		if err != nil {
			return
		}
		ids := tok.Encode("hello wörld 😀", true)
		_ = tok.Decode(ids)
		_ = tok.EncodeSpecial("<s>hi</s>")
	})
}

// FuzzLoadJSON: arbitrary tokenizer.json bytes never panic; what loads
// encodes and decodes.
func FuzzLoadJSON(f *testing.F) {
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`))
	f.Add([]byte(`{"added_tokens":[{"id":3,"content":"<s>","special":true}],"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},"model":{"type":"BPE","byte_fallback":true,"vocab":{"a":0,"▁":1,"<0x62>":2},"merges":[]}}`))
	f.Add([]byte(`{"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\p{N}{1,3}| ?\\p{L}+"},"behavior":"Isolated"},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false},{"type":"Digits"}]},"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","ignore_merges":true,"vocab":{"a":0,"Ġ":1,"Ġa":2},"merges":[["Ġ","a"]]}}`))
	f.Add([]byte(`{"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},"model":{"vocab":{"▁a":0,"▁":1,"a":2},"merges":["▁ a"]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := LoadJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, s := range []string{"a ab 12 <s>", "日本 😀"} {
			ids := tok.Encode(s, true)
			_ = tok.Decode(ids)
			_ = tok.Decode(tok.EncodeSpecial(s))
		}
	})
}
