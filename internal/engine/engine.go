// Package engine defines the inference interface the runtime calls. The
// built-in transformer (engine/llm) and remote engines (engine/upstream)
// implement it.
//
// Every piece of text an Engine receives is a guard.Text, which only the
// guard can make after scanning; an Engine refuses a zero guard.Text with
// ErrUnguarded, so raw text can never reach a model.
package engine

import (
	"context"
	"errors"

	"strata/internal/guard"
)

// ErrUnguarded is returned when a request carries text the guard did not make.
var ErrUnguarded = errors.New("engine: request text was not cleared by the guard")

// Message is one turn of a chat request.
type Message struct {
	Role    string // "system", "user" or "assistant"
	Content guard.Text
}

// Request is one generation request. Exactly one of Prompt and Messages is
// set: Prompt is a raw completion prompt used as is, Messages a chat that the
// engine formats with the model's chat template.
type Request struct {
	Prompt   guard.Text
	Messages []Message

	MaxTokens   int      // > 0
	Temperature float64  // 0 means greedy
	TopP        float64  // 0 or 1 means off
	TopK        int      // 0 means off
	Seed        *int64   // nil means a random seed
	Stop        []string // stop sequences; the match is not part of the output
	Logprobs    bool     // fill Token.Logprob for every generated token
	// Whole says the caller needs only the finished generation, not its
	// tokens as they come: an engine may then produce it in one piece (a
	// remote engine asks its server for a complete reply instead of a
	// stream) and call emit once for all of it, or once per token when
	// Logprobs is set.
	Whole bool
}

// Token is one generated token as it streams out.
type Token struct {
	ID      int
	Text    string  // the bytes this token completes, valid UTF-8 (may be empty)
	Logprob float64 // log probability under the sampling distribution's model
}

// StopReason says why generation ended.
type StopReason string

// The stop reasons an Engine reports.
const (
	StopEnd      StopReason = "end"      // the model produced its end-of-sequence token
	StopLength   StopReason = "length"   // MaxTokens or the context window was reached
	StopSequence StopReason = "sequence" // a stop sequence matched
)

// Result summarises a finished generation.
type Result struct {
	Text         string
	StopReason   StopReason
	InputTokens  int
	OutputTokens int
	Tokens       []Token // generated tokens, when Request.Logprobs was set
}

// Engine generates text. Implementations are safe for concurrent use.
//
// Generate calls emit for each token in order and returns when generation
// ends, emit returns an error (which Generate returns), or ctx is done (then
// it returns ctx.Err() and frees the request's slot at once).
type Engine interface {
	Generate(ctx context.Context, req Request, emit func(Token) error) (Result, error)
	// CountTokens returns the number of prompt tokens req would use.
	CountTokens(ctx context.Context, req Request) (int, error)
	// Close releases the engine's resources.
	Close() error
}
