package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Vocab is the part of a tokenizer Detect consults (*tokenizer.Tokenizer
// implements it).
type Vocab interface {
	ID(piece string) (int, bool)
	IsSpecial(id int) bool
	BOS() int
	TokenString(id int) string
}

// Detect picks the template for a model from its chat_template (the Jinja
// source in tokenizer_config.json, recognised by its markers) and, when
// there is none or it is not recognised, from its architecture (config.json
// model_type, e.g. "mistral", "mixtral", "llama") and vocabulary:
//
//   - a template containing "<|start_header_id|>" is Llama3, "<|im_start|>"
//     ChatML, "<<SYS>>" Llama2, "[INST]" Mistral;
//   - otherwise model_type "mistral" or "mixtral" is Mistral;
//   - otherwise a vocabulary with the special tokens "<|start_header_id|>"
//     is Llama3, with "<|im_start|>" ChatML;
//   - otherwise (base models such as stories260K or Llama 2 base) it is
//     Plain: a "User: ...\nAssistant:" transcript.
//
// BOS is the tokenizer's BOS token text (none for ChatML, which does not use
// one), and InstTokens is set when the vocabulary has "[INST]" as a special
// token. vocab may be nil: then BOS is "<s>" for Mistral, Llama 2 and
// Plain, "<|begin_of_text|>" for Llama3, and InstTokens is false.
func Detect(chatTemplate, modelType string, vocab Vocab) Template {
	t := Template{Family: detectFamily(chatTemplate, strings.ToLower(modelType), vocab)}
	special := func(s string) bool {
		if vocab == nil {
			return false
		}
		id, ok := vocab.ID(s)
		return ok && vocab.IsSpecial(id)
	}
	switch {
	case t.Family == ChatML:
	case vocab != nil && vocab.BOS() >= 0:
		t.BOS = vocab.TokenString(vocab.BOS())
	case t.Family == Llama3:
		t.BOS = "<|begin_of_text|>"
	default:
		t.BOS = "<s>"
	}
	t.InstTokens = t.Family == Mistral && special("[INST]") && special("[/INST]")
	return t
}

func detectFamily(tmpl, modelType string, vocab Vocab) Family {
	switch {
	case strings.Contains(tmpl, "<|start_header_id|>"):
		return Llama3
	case strings.Contains(tmpl, "<|im_start|>"):
		return ChatML
	case strings.Contains(tmpl, "<<SYS>>"):
		return Llama2
	case strings.Contains(tmpl, "[INST]"):
		return Mistral
	case modelType == "mistral" || modelType == "mixtral":
		return Mistral
	}
	if vocab != nil {
		if id, ok := vocab.ID("<|start_header_id|>"); ok && vocab.IsSpecial(id) {
			return Llama3
		}
		if id, ok := vocab.ID("<|im_start|>"); ok && vocab.IsSpecial(id) {
			return ChatML
		}
	}
	return Plain
}

// maxConfigBytes bounds the configuration files LoadTemplate reads.
const maxConfigBytes = 16 << 20

// LoadTemplate reads chat_template from dir/tokenizer_config.json (a string,
// or a list of {name, template} of which "default" is used) and model_type
// from dir/config.json, and calls Detect. Missing files are not errors.
func LoadTemplate(dir string, vocab Vocab) (Template, error) {
	var tc struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := readJSON(filepath.Join(dir, "tokenizer_config.json"), &tc); err != nil {
		return Template{}, err
	}
	var cfg struct {
		ModelType string `json:"model_type"`
	}
	if err := readJSON(filepath.Join(dir, "config.json"), &cfg); err != nil {
		return Template{}, err
	}
	tmpl, err := parseChatTemplate(tc.ChatTemplate)
	if err != nil {
		return Template{}, fmt.Errorf("tokenizer_config.json chat_template: %w", err)
	}
	return Detect(tmpl, cfg.ModelType, vocab), nil
}

func parseChatTemplate(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", errors.New("neither a string nor a list of {name, template}")
	}
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, nil
		}
	}
	if len(named) > 0 {
		return named[0].Template, nil
	}
	return "", nil
}

func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	if len(data) > maxConfigBytes {
		return fmt.Errorf("%s larger than %d bytes", filepath.Base(path), maxConfigBytes)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parsing %s: %w", filepath.Base(path), err)
	}
	return nil
}
