package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

// Limits on outside input.
const (
	maxJSONBytes  = 256 << 20 // tokenizer.json
	maxVocab      = 1 << 22   // ids
	maxPieceBytes = 1 << 12   // bytes in one piece
	maxNesting    = 8         // Sequence depth
)

type hfFile struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
		Lstrip  bool   `json:"lstrip"`
		Rstrip  bool   `json:"rstrip"`
	} `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
		Type                    string            `json:"type"`
		Vocab                   map[string]int    `json:"vocab"`
		Merges                  []json.RawMessage `json:"merges"`
		UnkToken                *string           `json:"unk_token"`
		ByteFallback            bool              `json:"byte_fallback"`
		FuseUnk                 bool              `json:"fuse_unk"`
		IgnoreMerges            bool              `json:"ignore_merges"`
		ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
	} `json:"model"`
}

// component is the shape shared by normalizers, pre-tokenizers, decoders and
// post-processors: a type tag and type-specific fields.
type component struct {
	Type           string            `json:"type"`
	Normalizers    []json.RawMessage `json:"normalizers"`
	Pretokenizers  []json.RawMessage `json:"pretokenizers"`
	Decoders       []json.RawMessage `json:"decoders"`
	Processors     []json.RawMessage `json:"processors"`
	Prepend        string            `json:"prepend"`
	Pattern        *pattern          `json:"pattern"`
	Content        json.RawMessage   `json:"content"`
	Replacement    string            `json:"replacement"`
	PrependScheme  string            `json:"prepend_scheme"`
	Split          *bool             `json:"split"`
	AddPrefixSpace *bool             `json:"add_prefix_space"`
	UseRegex       *bool             `json:"use_regex"`
	Behavior       string            `json:"behavior"`
	Invert         bool              `json:"invert"`
	Individual     bool              `json:"individual_digits"`
	Start          int               `json:"start"`
	Stop           int               `json:"stop"`
	Single         []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
		Sequence *struct {
			ID string `json:"id"`
		} `json:"Sequence"`
	} `json:"single"`
}

type pattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// regexTimeout bounds one regex match, so a hostile pattern in a
// tokenizer.json cannot hang encoding (regexp2 backtracks).
const regexTimeout = 2 * time.Second

func (p *pattern) compile() (*regexp2.Regexp, error) {
	re, err := p.compileRaw()
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = regexTimeout
	return re, nil
}

func (p *pattern) compileRaw() (*regexp2.Regexp, error) {
	switch {
	case p == nil:
		return nil, errors.New("missing pattern")
	case p.Regex != nil:
		re, err := regexp2.Compile(*p.Regex, regexp2.None)
		if err != nil {
			return nil, fmt.Errorf("compiling pattern %q: %w", *p.Regex, err)
		}
		return re, nil
	case p.String != nil:
		return regexp2.Compile(regexp2.Escape(*p.String), regexp2.None)
	}
	return nil, errors.New("pattern has neither String nor Regex")
}

// LoadJSON reads a Hugging Face tokenizer.json. BOS comes from its
// TemplateProcessing post-processor when it has one; EOS from a vocabulary
// piece named "</s>", "<|end_of_text|>" or "<|endoftext|>". Load refines
// both from the model folder's configuration files.
func LoadJSON(r io.Reader) (*Tokenizer, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxJSONBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading tokenizer.json: %w", err)
	}
	if len(data) > maxJSONBytes {
		return nil, fmt.Errorf("tokenizer.json larger than %d bytes", maxJSONBytes)
	}
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parsing tokenizer.json: %w", err)
	}
	t, err := fromHF(&f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	return t, nil
}

func fromHF(f *hfFile) (*Tokenizer, error) {
	m := &f.Model
	if m.Type != "" && m.Type != "BPE" {
		return nil, fmt.Errorf("model type %q is not supported (only BPE)", m.Type)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" ||
		m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, errors.New("BPE continuing_subword_prefix / end_of_word_suffix are not supported")
	}
	size := 0
	for p, id := range m.Vocab {
		if id < 0 || id >= maxVocab || len(p) > maxPieceBytes {
			return nil, fmt.Errorf("vocabulary entry %q: id %d out of range", p, id)
		}
		size = max(size, id+1)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID >= maxVocab || len(a.Content) > maxPieceBytes {
			return nil, fmt.Errorf("added token %q: id %d out of range", a.Content, a.ID)
		}
		size = max(size, a.ID+1)
	}
	if size > 2*(len(m.Vocab)+len(f.AddedTokens))+1024 {
		return nil, fmt.Errorf("ids up to %d for %d entries: too sparse", size-1, len(m.Vocab)+len(f.AddedTokens))
	}
	pieces := make([]string, size)
	holes := make([]bool, size)
	for i := range holes {
		holes[i] = true
	}
	model := bpe{vocab: make(map[string]int32, len(m.Vocab)), unk: -1,
		byteFallback: m.ByteFallback, fuseUnk: m.FuseUnk, ignoreMerges: m.IgnoreMerges}
	for p, id := range m.Vocab {
		if !holes[id] {
			return nil, fmt.Errorf("id %d used by two vocabulary entries", id)
		}
		pieces[id], holes[id] = p, false
		model.vocab[p] = int32(id)
	}
	t := &Tokenizer{bos: -1, dummyPrefix: -1}
	for _, a := range f.AddedTokens {
		pieces[a.ID], holes[a.ID] = a.Content, false
		t.added = append(t.added, addedToken{content: a.Content, id: a.ID, special: a.Special,
			lstrip: a.Lstrip, rstrip: a.Rstrip})
	}
	for id, h := range holes {
		if h {
			pieces[id] = fmt.Sprintf("<unused_%d>", id) // never produced by encoding
		}
	}
	if err := t.setVocab(pieces); err != nil {
		return nil, err
	}
	for id, h := range holes {
		if h {
			delete(t.ids, pieces[id])
			t.special[id] = true
		}
	}
	if m.UnkToken != nil {
		if id, ok := model.vocab[*m.UnkToken]; ok {
			model.unk = id
		}
	}
	for b := range 256 {
		model.byteIDs[b] = -1
		if id, ok := model.vocab[byteTokenName(byte(b))]; ok {
			model.byteIDs[b] = id
		}
	}
	model.merges = make(map[uint64]merge, len(m.Merges))
	for rank, raw := range m.Merges {
		l, r, err := parseMerge(raw)
		if err != nil {
			return nil, fmt.Errorf("merge %d: %w", rank, err)
		}
		lid, ok1 := model.vocab[l]
		rid, ok2 := model.vocab[r]
		mid, ok3 := model.vocab[l+r]
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("merge %d (%q %q) uses a piece missing from the vocabulary", rank, l, r)
		}
		k := pairKey(lid, rid)
		if _, dup := model.merges[k]; !dup {
			model.merges[k] = merge{rank: int32(rank), id: mid}
		}
	}
	t.bpe = model
	var err error
	if t.normalizers, err = parseNormalizer(f.Normalizer, 0); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	if t.preTok, err = parsePreTokenizer(f.PreTokenizer, 0); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	if err = parseDecoder(f.Decoder, &t.dec, 0); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	t.cache = make(map[string][]int)
	if !model.ignoreMerges {
		t.bpe.setSpaceSplit("▁")
	}
	t.finishAdded()
	if name, ok := templateBOS(f.PostProcessor, 0); ok {
		if id, ok := t.ids[name]; ok {
			t.bos, t.addBOS = id, true
		}
	}
	if t.bos < 0 {
		for _, name := range []string{"<s>", "<|begin_of_text|>"} {
			if id, ok := t.ids[name]; ok {
				t.bos = id
				break
			}
		}
	}
	for _, name := range []string{"</s>", "<|end_of_text|>", "<|endoftext|>"} {
		if id, ok := t.ids[name]; ok {
			t.eos = []int{id}
			break
		}
	}
	return t, t.checkIDs()
}

func parseMerge(raw json.RawMessage) (string, string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		l, r, ok := strings.Cut(s, " ")
		if !ok {
			return "", "", fmt.Errorf("merge %q has no space", s)
		}
		return l, r, nil
	}
	var pair []string
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return "", "", fmt.Errorf("merge %s is neither \"a b\" nor [a, b]", raw)
	}
	return pair[0], pair[1], nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func parseComponent(raw json.RawMessage, depth int) (*component, error) {
	if depth > maxNesting {
		return nil, errors.New("nested too deeply")
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func parseNormalizer(raw json.RawMessage, depth int) ([]normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := parseComponent(raw, depth)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var out []normalizer
		for _, r := range c.Normalizers {
			ns, err := parseNormalizer(r, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, ns...)
		}
		return out, nil
	case "Prepend":
		return []normalizer{prependNorm{prefix: c.Prepend}}, nil
	case "Replace":
		return parseReplace(c)
	case "NFC":
		return []normalizer{formNorm{norm.NFC}}, nil
	case "NFKC":
		return []normalizer{formNorm{norm.NFKC}}, nil
	case "NFD":
		return []normalizer{formNorm{norm.NFD}}, nil
	case "NFKD":
		return []normalizer{formNorm{norm.NFKD}}, nil
	case "Lowercase":
		return []normalizer{lowercaseNorm{}}, nil
	}
	return nil, fmt.Errorf("normalizer type %q is not supported", c.Type)
}

func parseReplace(c *component) ([]normalizer, error) {
	var content string
	if err := json.Unmarshal(c.Content, &content); err != nil {
		return nil, fmt.Errorf("replace content: %w", err)
	}
	if c.Pattern == nil {
		return nil, errors.New("replace without pattern")
	}
	if c.Pattern.String != nil {
		return []normalizer{replaceNorm{literal: *c.Pattern.String, content: content}}, nil
	}
	re, err := c.Pattern.compile()
	if err != nil {
		return nil, err
	}
	// regexp2 substitutions use $; escape them in the literal content.
	return []normalizer{replaceNorm{re: re, content: strings.ReplaceAll(content, "$", "$$")}}, nil
}

func parsePreTokenizer(raw json.RawMessage, depth int) ([]preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := parseComponent(raw, depth)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var out []preTokenizer
		for _, r := range c.Pretokenizers {
			ps, err := parsePreTokenizer(r, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
		}
		return out, nil
	case "Metaspace":
		p := metaspacePre{repl: c.Replacement, scheme: prependAlways, splitWords: true}
		if p.repl == "" {
			p.repl = "▁"
		}
		if c.Split != nil {
			p.splitWords = *c.Split
		}
		switch c.PrependScheme {
		case "first":
			p.scheme = prependFirst
		case "never":
			p.scheme = prependNever
		case "", "always":
			if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
				p.scheme = prependNever
			}
		default:
			return nil, fmt.Errorf("metaspace prepend_scheme %q", c.PrependScheme)
		}
		return []preTokenizer{p}, nil
	case "ByteLevel":
		p := byteLevelPre{addPrefixSpace: c.AddPrefixSpace != nil && *c.AddPrefixSpace}
		if c.UseRegex == nil || *c.UseRegex {
			p.re = regexp2.MustCompile(gpt2Pattern, regexp2.None)
			p.re.MatchTimeout = regexTimeout
		}
		return []preTokenizer{p}, nil
	case "Split":
		if c.Pattern != nil && c.Pattern.Regex != nil && *c.Pattern.Regex == llama3Pattern &&
			(c.Behavior == "Isolated" || c.Behavior == "") && !c.Invert {
			return []preTokenizer{llama3Pre{}}, nil // same splits, no regex engine
		}
		re, err := c.Pattern.compile()
		if err != nil {
			return nil, err
		}
		p := splitPre{re: re, invert: c.Invert}
		switch c.Behavior {
		case "Isolated", "":
			p.behavior = splitIsolated
		case "Removed":
			p.behavior = splitRemoved
		case "MergedWithPrevious":
			p.behavior = splitMergedWithPrevious
		case "MergedWithNext":
			p.behavior = splitMergedWithNext
		case "Contiguous":
			p.behavior = splitContiguous
		default:
			return nil, fmt.Errorf("split behavior %q", c.Behavior)
		}
		return []preTokenizer{p}, nil
	case "Digits":
		return []preTokenizer{digitsPre{individual: c.Individual}}, nil
	}
	return nil, fmt.Errorf("pre-tokenizer type %q is not supported", c.Type)
}

func parseDecoder(raw json.RawMessage, d *decoder, depth int) error {
	if isNull(raw) {
		return nil
	}
	c, err := parseComponent(raw, depth)
	if err != nil {
		return err
	}
	switch c.Type {
	case "Sequence":
		for _, r := range c.Decoders {
			if err := parseDecoder(r, d, depth+1); err != nil {
				return err
			}
		}
	case "Replace":
		var content string
		if err := json.Unmarshal(c.Content, &content); err != nil {
			return fmt.Errorf("replace content: %w", err)
		}
		if c.Pattern == nil || c.Pattern.String == nil || content != " " {
			return errors.New("only the Replace(\"▁\" -> \" \") decoder is supported")
		}
		d.spaceRepl = *c.Pattern.String
	case "ByteFallback":
		d.byteFallback = true
	case "Fuse":
	case "Strip":
		var content string
		if err := json.Unmarshal(c.Content, &content); err != nil || content != " " || c.Stop != 0 {
			return errors.New("only Strip(\" \", n, 0) is supported")
		}
		d.stripFirst = c.Start
	case "ByteLevel":
		d.byteLevel = true
	case "Metaspace":
		d.spaceRepl = c.Replacement
		if d.spaceRepl == "" {
			d.spaceRepl = "▁"
		}
		if c.PrependScheme != "never" && (c.AddPrefixSpace == nil || *c.AddPrefixSpace) {
			d.stripFirst = 1
		}
	default:
		return fmt.Errorf("decoder type %q is not supported", c.Type)
	}
	return nil
}

// templateBOS finds the special token a TemplateProcessing post-processor
// puts before the single sequence.
func templateBOS(raw json.RawMessage, depth int) (string, bool) {
	if isNull(raw) {
		return "", false
	}
	c, err := parseComponent(raw, depth)
	if err != nil {
		return "", false
	}
	switch c.Type {
	case "Sequence":
		for _, r := range c.Processors {
			if name, ok := templateBOS(r, depth+1); ok {
				return name, true
			}
		}
	case "TemplateProcessing":
		if len(c.Single) > 1 && c.Single[0].SpecialToken != nil && c.Single[1].Sequence != nil {
			return c.Single[0].SpecialToken.ID, true
		}
	}
	return "", false
}
