// Package tokenizer turns text into token ids and back for the built-in
// engine. It reads the two tokenizer formats Hugging Face model folders ship:
// tokenizer.json (the Hugging Face tokenizers library's format) and
// tokenizer.model (a SentencePiece ModelProto), and implements the two BPE
// flavours the supported model families use:
//
//   - SentencePiece-style BPE over "▁"-escaped text with byte fallback
//     (<0xNN> pieces) for Llama 2 and Mistral, with merges ordered by rank
//     (tokenizer.json) or by piece score (tokenizer.model), and
//   - byte-level BPE after a pre-tokenizer regex (Llama 3, GPT-2 style).
//
// Added and special tokens are split out of the text before BPE. Encode never
// recognises special tokens in its input, so user text cannot smuggle control
// tokens such as "[INST]" or "</s>" into a prompt; EncodeSpecial does, and is
// meant for template text only.
//
// Decoding skips special tokens and streams valid UTF-8 across token
// boundaries (StreamDecoder). A Tokenizer is immutable after loading (but for
// an internal, locked word cache) and safe for concurrent use.
//
// Fidelity: a tokenizer.json encodes as Hugging Face's tokenizers library
// does, a tokenizer.model as the sentencepiece library does. They differ for
// text that starts with a space: sentencepiece always adds its dummy-prefix
// "▁" (" Hi" is "▁" "▁Hi"), Metaspace with prepend_scheme "first" does not
// (" Hi" is "▁Hi"). Not implemented: Unigram and WordPiece models, the
// Precompiled normalizer (a SentencePiece nmt_nfkc rule is approximated by
// NFKC), the single_word and normalized flags of added tokens, resegmenting
// SentencePiece "unused" pieces, and clean_up_tokenization_spaces when
// decoding. Loading fails with an error naming any unsupported component.
package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Tokenizer encodes text to token ids and decodes ids to text.
type Tokenizer struct {
	pieces  []string       // id -> piece as stored in the vocabulary
	ids     map[string]int // piece -> id
	special []bool         // id is a control/special token, skipped by Decode
	literal []bool         // id is a non-special added token, decoded as its text

	bpe bpe // the model

	normalizers []normalizer
	preTok      []preTokenizer
	dec         decoder

	added    []addedToken // longest first
	byFirst  [256][]int32 // first byte -> indexes into added
	hasAdded bool         // some added token is not special (matched by Encode)

	// dummyPrefix is the id of "▁" for SentencePiece models that add a
	// dummy prefix, which then precedes a user-defined piece that starts
	// the text; -1 otherwise.
	dummyPrefix int

	bos    int   // -1 when none
	eos    []int // all end-of-sequence ids
	addBOS bool

	cacheMu sync.RWMutex
	cache   map[string][]int // word -> ids
}

type addedToken struct {
	content        string
	id             int
	special        bool
	lstrip, rstrip bool // the token absorbs whitespace on its left / right
}

// The per-word encoding cache holds at most maxCacheWords words of at most
// maxCachedWord bytes.
const (
	maxCacheWords = 1 << 16
	maxCachedWord = 64
)

// Encode encodes user text. Special-token strings in text are encoded as plain
// text, never as control tokens. When addBOS is true and the tokenizer has a
// beginning-of-sequence token, it is prepended.
func (t *Tokenizer) Encode(text string, addBOS bool) []int {
	var out []int
	if addBOS && t.bos >= 0 {
		out = append(out, t.bos)
	}
	return t.encode(out, text, false)
}

// EncodeSpecial encodes template text in which the strings of special and
// added tokens (such as "<s>", "[INST]" or "<|eot_id|>") become those tokens.
// It never adds a BOS token by itself: write it in the text. Use it only for
// text the program wrote, never for user input.
//
// SentencePiece's dummy-prefix space is added only at the very start of
// text, not after each special token (Hugging Face's non-legacy behaviour,
// prepend_scheme "first"), so EncodeSpecial("<s>[INST]") encodes "[INST]"
// without a leading "▁". Templates that want the prefix on every turn (as
// mistral-common and Meta's Llama 2 code do) encode each text part with
// Encode instead; package chat does that.
func (t *Tokenizer) EncodeSpecial(text string) []int {
	return t.encode(nil, text, true)
}

func (t *Tokenizer) encode(out []int, text string, specials bool) []int {
	if !specials && !t.hasAdded {
		return t.encodeText(out, text, true)
	}
	start := 0
	first := true
	for start < len(text) {
		pos, tok := t.findAdded(text, start, specials)
		if tok == nil {
			break
		}
		end := pos + len(tok.content)
		for tok.lstrip && pos > start {
			r, w := utf8.DecodeLastRuneInString(text[start:pos])
			if !unicode.IsSpace(r) {
				break
			}
			pos -= w
		}
		for tok.rstrip && end < len(text) {
			r, w := utf8.DecodeRuneInString(text[end:])
			if !unicode.IsSpace(r) {
				break
			}
			end += w
		}
		if pos > start {
			out = t.encodeText(out, text[start:pos], first)
		} else if pos == 0 && !tok.special && t.dummyPrefix >= 0 {
			out = append(out, t.dummyPrefix)
		}
		out = append(out, tok.id)
		first = false
		start = end
	}
	if start < len(text) {
		out = t.encodeText(out, text[start:], first)
	}
	return out
}

// findAdded returns the leftmost (then longest) added token in text at or
// after from. Special tokens are considered only when specials is true.
func (t *Tokenizer) findAdded(text string, from int, specials bool) (int, *addedToken) {
	for i := from; i < len(text); i++ {
		for _, k := range t.byFirst[text[i]] {
			a := &t.added[k]
			if a.special && !specials {
				continue
			}
			if strings.HasPrefix(text[i:], a.content) {
				return i, a // t.added is sorted longest first
			}
		}
	}
	return -1, nil
}

// encodeText encodes a run of text with no added tokens in it. atStart says
// whether the run begins the input (for prepend schemes that act only there).
func (t *Tokenizer) encodeText(out []int, text string, atStart bool) []int {
	if text == "" {
		return out
	}
	for _, n := range t.normalizers {
		text = n.normalize(text, atStart)
	}
	words := []string{text}
	for _, p := range t.preTok {
		words = p.split(words, atStart)
	}
	for _, w := range words {
		out = t.encodeWord(out, w)
	}
	return out
}

func (t *Tokenizer) encodeWord(out []int, w string) []int {
	if w == "" {
		return out
	}
	if t.bpe.spaceSplit != "" {
		t.bpe.chunks(w, func(c string) { out = t.encodeCached(out, c) })
		return out
	}
	return t.encodeCached(out, w)
}

func (t *Tokenizer) encodeCached(out []int, w string) []int {
	if len(w) > maxCachedWord {
		return t.bpe.encode(out, w)
	}
	t.cacheMu.RLock()
	ids, ok := t.cache[w]
	t.cacheMu.RUnlock()
	if ok {
		return append(out, ids...)
	}
	n := len(out)
	out = t.bpe.encode(out, w)
	t.cacheMu.Lock()
	if len(t.cache) >= maxCacheWords {
		clear(t.cache)
	}
	t.cache[w] = append([]int(nil), out[n:]...)
	t.cacheMu.Unlock()
	return out
}

// Decode turns ids into text. Special tokens are skipped, byte-fallback and
// byte-level pieces become their bytes, and bytes that do not form valid
// UTF-8 become U+FFFD, one per byte. Ids outside the vocabulary are skipped.
func (t *Tokenizer) Decode(ids []int) string {
	var b []byte
	first := true
	for _, id := range ids {
		var ok bool
		b, ok = t.appendTokenBytes(b, id, first)
		if ok {
			first = false
		}
	}
	return validUTF8(b)
}

// appendTokenBytes appends the bytes of one token; it reports false for a
// token that contributes nothing (special or unknown id).
func (t *Tokenizer) appendTokenBytes(b []byte, id int, first bool) ([]byte, bool) {
	if id < 0 || id >= len(t.pieces) || t.special[id] {
		return b, false
	}
	if t.literal[id] && t.dec.byteLevel {
		return append(b, t.pieces[id]...), true
	}
	return t.dec.appendPiece(b, t.pieces[id], first), true
}

// validUTF8 replaces every byte that is not part of a valid UTF-8 sequence
// with U+FFFD.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			sb.WriteRune(utf8.RuneError)
			b = b[1:]
			continue
		}
		sb.Write(b[:n])
		b = b[n:]
	}
	return sb.String()
}

// TokenBytes returns the bytes a token stands for in the middle of a text
// (no leading-space strip; a byte-fallback or byte-level token may be part of
// a UTF-8 character), or nil for special and unknown ids. It is what OpenAI's
// logprobs "bytes" field reports.
func (t *Tokenizer) TokenBytes(id int) []byte {
	b, _ := t.appendTokenBytes(nil, id, false)
	return b
}

// BOS returns the beginning-of-sequence id, or -1 when there is none.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns every id that ends a generation (the eos token and any extra
// end ids from generation_config.json), in ascending order.
func (t *Tokenizer) EOS() []int { return append([]int(nil), t.eos...) }

// AddBOS reports whether the model's configuration asks for a BOS token in
// front of every encoded prompt (tokenizer_config.json add_bos_token, or the
// tokenizer's own post-processor).
func (t *Tokenizer) AddBOS() bool { return t.addBOS && t.bos >= 0 }

// VocabSize returns the number of ids, added tokens included.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// TokenString returns the piece for id as stored in the vocabulary (for
// example "▁the", "<0x0A>", "Ġthe" or "<|eot_id|>"), or "" for an unknown id.
func (t *Tokenizer) TokenString(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// ID returns the id of a vocabulary piece.
func (t *Tokenizer) ID(piece string) (int, bool) {
	id, ok := t.ids[piece]
	return id, ok
}

// IsSpecial reports whether id is a special (control) token.
func (t *Tokenizer) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.special) && t.special[id]
}

// setVocab installs the id -> piece table and checks it.
func (t *Tokenizer) setVocab(pieces []string) error {
	t.pieces = pieces
	t.special = make([]bool, len(pieces))
	t.literal = make([]bool, len(pieces))
	t.ids = make(map[string]int, len(pieces))
	for id, p := range pieces {
		if _, dup := t.ids[p]; dup {
			continue // first id wins, as in sentencepiece
		}
		t.ids[p] = id
	}
	return nil
}

// finishAdded sorts added tokens longest first and marks specials.
func (t *Tokenizer) finishAdded() {
	sortAdded(t.added)
	t.hasAdded = false
	t.byFirst = [256][]int32{}
	for k, a := range t.added {
		if a.content != "" {
			t.byFirst[a.content[0]] = append(t.byFirst[a.content[0]], int32(k))
		}
		if a.special {
			t.special[a.id] = true
		} else {
			t.hasAdded = true
			t.literal[a.id] = true
		}
	}
}

func sortAdded(a []addedToken) {
	slices.SortFunc(a, func(x, y addedToken) int {
		if len(x.content) != len(y.content) {
			return len(y.content) - len(x.content)
		}
		return strings.Compare(x.content, y.content)
	})
}

func (t *Tokenizer) checkIDs() error {
	if t.bos >= len(t.pieces) {
		return fmt.Errorf("bos id %d outside vocabulary of %d", t.bos, len(t.pieces))
	}
	for _, e := range t.eos {
		if e < 0 || e >= len(t.pieces) {
			return fmt.Errorf("eos id %d outside vocabulary of %d", e, len(t.pieces))
		}
	}
	return nil
}
