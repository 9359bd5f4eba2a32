package modelgen

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// MinVocab is the smallest vocabulary the generated tokenizer supports:
// the three specials, 256 byte pieces, "▁" and the corpus characters.
const MinVocab = 512

// Vocabulary layout of the generated tokenizer, as in Llama 2 and Mistral.
const (
	UnkID = 0
	BOSID = 1
	EOSID = 2
	// ByteBase is the id of <0x00>; byte b is ByteBase+b.
	ByteBase = 3
)

// corpus seeds the tokenizer's first merges with real BPE training, so
// common English encodes to multi-character pieces; the rest of the
// vocabulary is random merges.
const corpus = `Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends.
One day, she saw a big red ball under a tree. "Can I play with it?" she asked her mom. Her mom said yes, and Lily was very happy.
The cat sat on the mat and the dog ran to the house. They were friends and they liked to share their toys.
How can I help you today? Please tell me your account number and the card you want to block. Thank you for your patience.
I would like to check my balance, transfer money, and pay my bill. What is the status of my order? When will it arrive?
The quick brown fox jumps over the lazy dog. It is a beautiful day, and the sun is shining in the sky above the hills.`

// Vocab is a generated SentencePiece-style BPE vocabulary.
type Vocab struct {
	// Pieces are the tokens by id ("▁" marks a space).
	Pieces []string
	// Merges are the BPE merges in rank order, as "left right".
	Merges []string
}

// Vocab builds the tokenizer vocabulary for s: <unk>, <s>, </s>,
// <0x00>..<0xFF>, "▁" and the corpus characters, merges learnt from a
// small built-in corpus, then random merges of existing pieces until
// vocab_size pieces exist. Every merged piece is the concatenation of its
// merge's two sides, and piece ids follow merge rank.
func (s Spec) Vocab() Vocab {
	n := s.Config.VocabSize
	pieces := []string{"<unk>", "<s>", "</s>"}
	for b := range 256 {
		pieces = append(pieces, fmt.Sprintf("<0x%02X>", b))
	}
	have := map[string]bool{}
	addPiece := func(p string) {
		have[p] = true
		pieces = append(pieces, p)
	}
	addPiece("▁")
	text := "▁" + strings.ReplaceAll(strings.ReplaceAll(corpus, "\n", " "), " ", "▁")
	var chars []string
	for _, r := range text {
		if c := string(r); !have[c] && !slices.Contains(chars, c) {
			chars = append(chars, c)
		}
	}
	slices.Sort(chars)
	for _, c := range chars {
		addPiece(c)
	}
	var merges []string
	// Words: each starts at a ▁, as Metaspace splits them.
	var words [][]string
	for _, w := range strings.Split(text, "▁")[1:] {
		var syms []string
		syms = append(syms, "▁")
		for _, r := range w {
			syms = append(syms, string(r))
		}
		words = append(words, syms)
	}
	for len(pieces) < n {
		counts := map[[2]string]int{}
		var order [][2]string
		for _, w := range words {
			for i := 0; i+1 < len(w); i++ {
				p := [2]string{w[i], w[i+1]}
				if counts[p] == 0 {
					order = append(order, p)
				}
				counts[p]++
			}
		}
		best, bestN := [2]string{}, 1
		for _, p := range order {
			if c := counts[p]; c > bestN && !have[p[0]+p[1]] {
				best, bestN = p, c
			}
		}
		if bestN < 2 {
			break
		}
		merged := best[0] + best[1]
		merges = append(merges, best[0]+" "+best[1])
		addPiece(merged)
		for wi, w := range words {
			var out []string
			for i := 0; i < len(w); i++ {
				if i+1 < len(w) && w[i] == best[0] && w[i+1] == best[1] {
					out = append(out, merged)
					i++
					continue
				}
				out = append(out, w[i])
			}
			words[wi] = out
		}
	}
	// Random merges for the rest, from the non-special pieces.
	first := ByteBase + 256
	state := mix64(s.Seed ^ 0x746f6b656e)
	for len(pieces) < n {
		state += golden
		u := mix64(state)
		m := len(pieces) - first
		a := pieces[first+int(u%uint64(m))]
		b := pieces[first+int((u>>32)%uint64(m))]
		// Like SentencePiece, "▁" only leads a piece (or runs of it).
		if len(a)+len(b) > 24 || have[a+b] || strings.Contains(b, "▁") && strings.Trim(a+b, "▁") != "" {
			continue
		}
		merges = append(merges, a+" "+b)
		addPiece(a + b)
	}
	return Vocab{Pieces: pieces[:n], Merges: merges}
}

// tokenizerJSON renders v as a Hugging Face tokenizers BPE tokenizer.json
// in the shape of Mistral-7B's: byte fallback, fused unknowns, Metaspace
// pre-tokenizer, <s> prepended by the post-processor.
func tokenizerJSON(v Vocab) ([]byte, error) {
	type added struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	vocab := make(map[string]int, len(v.Pieces))
	for i, p := range v.Pieces {
		vocab[p] = i
	}
	doc := map[string]any{
		"version":    "1.0",
		"truncation": nil,
		"padding":    nil,
		"added_tokens": []added{
			{ID: UnkID, Content: "<unk>", Special: true},
			{ID: BOSID, Content: "<s>", Special: true},
			{ID: EOSID, Content: "</s>", Special: true},
		},
		"normalizer": nil,
		"pre_tokenizer": map[string]any{
			"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false,
		},
		"post_processor": map[string]any{
			"type": "TemplateProcessing",
			"single": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
			},
			"pair": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 1}},
				map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}},
			},
			"special_tokens": map[string]any{
				"<s>": map[string]any{"id": "<s>", "ids": []int{BOSID}, "tokens": []string{"<s>"}},
			},
		},
		"decoder": map[string]any{
			"type": "Sequence",
			"decoders": []any{
				map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
				map[string]any{"type": "ByteFallback"},
				map[string]any{"type": "Fuse"},
				map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0},
			},
		},
		"model": map[string]any{
			"type":                      "BPE",
			"dropout":                   nil,
			"unk_token":                 "<unk>",
			"continuing_subword_prefix": nil,
			"end_of_word_suffix":        nil,
			"fuse_unk":                  true,
			"byte_fallback":             true,
			"ignore_merges":             false,
			"vocab":                     vocab,
			"merges":                    v.Merges,
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// tokenizerConfigJSON is tokenizer_config.json in the shape of Mistral-7B's.
func tokenizerConfigJSON(maxLen int) ([]byte, error) {
	special := func(s string) map[string]any {
		return map[string]any{"content": s, "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true}
	}
	return json.MarshalIndent(map[string]any{
		"add_bos_token":                 true,
		"add_eos_token":                 false,
		"added_tokens_decoder":          map[string]any{"0": special("<unk>"), "1": special("<s>"), "2": special("</s>")},
		"additional_special_tokens":     []string{},
		"bos_token":                     "<s>",
		"clean_up_tokenization_spaces":  false,
		"eos_token":                     "</s>",
		"legacy":                        false,
		"model_max_length":              maxLen,
		"pad_token":                     nil,
		"spaces_between_special_tokens": false,
		"tokenizer_class":               "LlamaTokenizer",
		"unk_token":                     "<unk>",
		"use_default_system_prompt":     false,
	}, "", "  ")
}
