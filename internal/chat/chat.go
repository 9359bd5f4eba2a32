// Package chat formats chat messages into the prompt a model was trained on
// (Mistral [INST], Llama 2, Llama 3, ChatML, or a plain transcript for models
// without a chat template).
//
// A formatted prompt is a list of segments. Special segments hold control
// token text written by this package ("<s>", "[INST]", "<|eot_id|>") and are
// encoded with the tokenizer's EncodeSpecial; text segments hold message
// content (and template literals around it) and are encoded as plain text,
// each on its own, so nothing a user writes can become a control token.
// Encoding each text segment separately is also what the references do:
// mistral-common and Meta's Llama 2 code call the SentencePiece encoder once
// per turn, each call adding its dummy-prefix space.
//
// The family comes from the chat_template in tokenizer_config.json, which
// this package recognises by its markers rather than by running Jinja; see
// Detect for the rule, including models that have no template.
package chat

import (
	"errors"
	"fmt"
	"strings"
)

// Message is one chat turn.
type Message struct {
	Role    string // RoleSystem, RoleUser or RoleAssistant
	Content string
}

// The roles a Message may have.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Segment is a piece of a formatted prompt.
type Segment struct {
	Text    string
	Special bool // control-token text: encode with EncodeSpecial; else plain text
}

// Family names a prompt format.
type Family string

// The supported prompt formats.
const (
	// Mistral is the [INST] format of mistral-common. With a v1 tokenizer
	// (Mistral-7B-Instruct v0.1/v0.2) "[INST]" is text; with v2/v3
	// tokenizers it is a control token (Template.InstTokens).
	Mistral Family = "mistral"
	// Llama2 is Meta's Llama 2 chat format with <<SYS>>.
	Llama2 Family = "llama2"
	// Llama3 is the <|start_header_id|> format of Llama 3.
	Llama3 Family = "llama3"
	// ChatML is the <|im_start|> format (Qwen, many fine-tunes).
	ChatML Family = "chatml"
	// Plain is a "User: ...\nAssistant:" transcript for models without a
	// chat template.
	Plain Family = "plain"
)

// Template says how to format a model's prompts.
type Template struct {
	Family Family
	// BOS is the beginning-of-sequence token text ("<s>",
	// "<|begin_of_text|>"); empty means none. Format writes it.
	BOS string
	// EOS is the end-of-sequence token text closing assistant turns in the
	// Mistral and Llama 2 formats; empty means "</s>".
	EOS string
	// InstTokens says [INST] and [/INST] are control tokens (Mistral v2/v3
	// tokenizers). Then the system prompt goes before the last user message,
	// as mistral-common v2+ does; with v1 it goes before the first.
	InstTokens bool
}

// EndTokens returns control-token texts that end an assistant turn in this
// format; the engine should stop on them in addition to the tokenizer's EOS.
func (t Template) EndTokens() []string {
	switch t.Family {
	case Llama3:
		return []string{"<|eot_id|>"}
	case ChatML:
		return []string{"<|im_end|>"}
	case Mistral, Llama2:
		return []string{t.eos()}
	}
	return nil
}

// StopSequences returns text stop sequences for formats that have no end
// token for a turn (the plain transcript).
func (t Template) StopSequences() []string {
	if t.Family == Plain {
		return []string{"\nUser:"}
	}
	return nil
}

func (t Template) eos() string {
	if t.EOS == "" {
		return "</s>"
	}
	return t.EOS
}

// ErrMessages reports a conversation a format cannot express.
var ErrMessages = errors.New("chat: invalid message sequence")

// Format formats messages. With addGenerationPrompt, the prompt ends where
// the assistant's reply begins (the last message must then be from the user
// in the Mistral and Llama 2 formats).
func Format(t Template, msgs []Message, addGenerationPrompt bool) ([]Segment, error) {
	for i, m := range msgs {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return nil, fmt.Errorf("%w: message %d has role %q", ErrMessages, i, m.Role)
		}
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: no messages", ErrMessages)
	}
	var b builder
	switch t.Family {
	case Mistral:
		return formatMistral(&b, t, msgs, addGenerationPrompt)
	case Llama2:
		return formatLlama2(&b, t, msgs, addGenerationPrompt)
	case Llama3:
		return formatLlama3(&b, t, msgs, addGenerationPrompt), nil
	case ChatML:
		return formatChatML(&b, t, msgs, addGenerationPrompt), nil
	case Plain, "":
		return formatPlain(&b, t, msgs, addGenerationPrompt), nil
	}
	return nil, fmt.Errorf("chat: unknown template family %q", t.Family)
}

// Render joins segments into the prompt string a Jinja chat template would
// produce (for logs and for engines that take text).
func Render(segs []Segment) string {
	var sb strings.Builder
	for _, s := range segs {
		sb.WriteString(s.Text)
	}
	return sb.String()
}

// Encoder is the part of a tokenizer that Encode needs
// (*tokenizer.Tokenizer implements it).
type Encoder interface {
	Encode(text string, addBOS bool) []int
	EncodeSpecial(text string) []int
}

// Encode turns segments into token ids: special segments with
// EncodeSpecial, text segments with Encode (no BOS, control-token strings
// not recognised).
func Encode(enc Encoder, segs []Segment) []int {
	var ids []int
	for _, s := range segs {
		if s.Text == "" {
			continue
		}
		if s.Special {
			ids = append(ids, enc.EncodeSpecial(s.Text)...)
		} else {
			ids = append(ids, enc.Encode(s.Text, false)...)
		}
	}
	return ids
}

type builder struct{ segs []Segment }

func (b *builder) special(s string) {
	if s != "" {
		b.segs = append(b.segs, Segment{Text: s, Special: true})
	}
}

func (b *builder) text(s string) {
	if s != "" {
		b.segs = append(b.segs, Segment{Text: s})
	}
}

// splitSystem joins the system messages (with blank lines, as mistral-common
// does) and returns the rest.
func splitSystem(msgs []Message) (string, []Message) {
	var sys []string
	var rest []Message
	for _, m := range msgs {
		if m.Role == RoleSystem {
			sys = append(sys, m.Content)
		} else {
			rest = append(rest, m)
		}
	}
	return strings.Join(sys, "\n\n"), rest
}

// checkAlternation requires user, assistant, user, ... ending as asked.
func checkAlternation(msgs []Message, addGenerationPrompt bool) error {
	if len(msgs) == 0 {
		return fmt.Errorf("%w: no user message", ErrMessages)
	}
	for i, m := range msgs {
		want := RoleUser
		if i%2 == 1 {
			want = RoleAssistant
		}
		if m.Role != want {
			return fmt.Errorf("%w: message %d is %q, want %q (after system messages, roles must alternate user/assistant)",
				ErrMessages, i, m.Role, want)
		}
	}
	if addGenerationPrompt && msgs[len(msgs)-1].Role != RoleUser {
		return fmt.Errorf("%w: the last message must be from the user", ErrMessages)
	}
	return nil
}

// formatMistral follows mistral-common's InstructTokenizer v1 (text [INST])
// and v2/v3 (control [INST]): BOS, then per user turn "[INST] content
// [/INST]", per assistant turn the content and EOS.
func formatMistral(b *builder, t Template, msgs []Message, gen bool) ([]Segment, error) {
	sys, rest := splitSystem(msgs)
	if err := checkAlternation(rest, gen); err != nil {
		return nil, err
	}
	sysAt := 0 // first user message
	if t.InstTokens {
		sysAt = len(rest) - 1 // the last user message
		if rest[sysAt].Role != RoleUser {
			sysAt--
		}
	}
	b.special(t.BOS)
	for i, m := range rest {
		if m.Role == RoleAssistant {
			b.text(m.Content)
			b.special(t.eos())
			continue
		}
		content := m.Content
		if i == sysAt && sys != "" {
			content = sys + "\n\n" + content
		}
		if t.InstTokens {
			b.special("[INST]")
			b.text(content)
			b.special("[/INST]")
		} else {
			b.text("[INST] " + content + " [/INST]")
		}
	}
	return b.segs, nil
}

// formatLlama2 follows Meta's llama chat_completion: the system prompt is
// wrapped in <<SYS>> into the first user message, and each exchange is
// "<s>[INST] user [/INST] answer </s>".
func formatLlama2(b *builder, t Template, msgs []Message, gen bool) ([]Segment, error) {
	sys, rest := splitSystem(msgs)
	if err := checkAlternation(rest, gen); err != nil {
		return nil, err
	}
	if sys != "" {
		rest = append([]Message(nil), rest...)
		rest[0].Content = "<<SYS>>\n" + sys + "\n<</SYS>>\n\n" + rest[0].Content
	}
	for i := 0; i < len(rest); i += 2 {
		b.special(t.BOS)
		user := "[INST] " + strings.TrimSpace(rest[i].Content) + " [/INST]"
		if i+1 < len(rest) {
			b.text(user + " " + strings.TrimSpace(rest[i+1].Content) + " ")
			b.special(t.eos())
		} else {
			b.text(user)
		}
	}
	return b.segs, nil
}

// formatLlama3 follows Meta's Llama 3 template (contents trimmed).
func formatLlama3(b *builder, t Template, msgs []Message, gen bool) []Segment {
	b.special(t.BOS)
	for _, m := range msgs {
		b.special("<|start_header_id|>")
		b.text(m.Role)
		b.special("<|end_header_id|>")
		b.text("\n\n" + strings.TrimSpace(m.Content))
		b.special("<|eot_id|>")
	}
	if gen {
		b.special("<|start_header_id|>")
		b.text(RoleAssistant)
		b.special("<|end_header_id|>")
		b.text("\n\n")
	}
	return b.segs
}

// formatChatML writes "<|im_start|>role\ncontent<|im_end|>\n" per message.
func formatChatML(b *builder, t Template, msgs []Message, gen bool) []Segment {
	b.special(t.BOS)
	for _, m := range msgs {
		b.special("<|im_start|>")
		b.text(m.Role + "\n" + m.Content)
		b.special("<|im_end|>")
		b.text("\n")
	}
	if gen {
		b.special("<|im_start|>")
		b.text(RoleAssistant + "\n")
	}
	return b.segs
}

// formatPlain writes a transcript for models with no chat format:
// BOS, then the system prompt as a paragraph ("...\n\n") if any,
// "User: ...\n", "Assistant: ...\n", ending in "Assistant:" for generation.
// It is one text segment.
func formatPlain(b *builder, t Template, msgs []Message, gen bool) []Segment {
	b.special(t.BOS)
	var sb strings.Builder
	for _, m := range msgs {
		switch m.Role {
		case RoleSystem:
			sb.WriteString(m.Content + "\n\n")
		case RoleUser:
			sb.WriteString("User: " + m.Content + "\n")
		case RoleAssistant:
			sb.WriteString("Assistant: " + m.Content + "\n")
		}
	}
	if gen {
		sb.WriteString("Assistant:")
	}
	b.text(sb.String())
	return b.segs
}
