// Package upstreamtest runs loopback model servers for tests and benchmarks
// of remote engines: one speaks the OpenAI streaming API the way vLLM does
// (SSE chunks, usage in a final chunk, logprobs, /models, /tokenize), the
// other the Bedrock runtime's event streams (ConverseStream and
// InvokeModelWithResponseStream). Both answer deterministically, can be told
// to fail in the ways real upstreams fail (error statuses, dropped
// connections, hangs), record what they saw, and refuse, and count, any
// request that holds a card number, so tests can prove none reached a model.
//
// Only tests and benchmarks import this package.
package upstreamtest

import (
	"strings"
	"sync"
	"time"
)

// DefaultReply is the tokens a server generates unless told otherwise.
var DefaultReply = []string{"Hello", ",", " this", " is", " the", " upstream", " model", " speaking", ".",
	" Your", " card", " ending", " is", " safe", " with", " us", "."}

// Logprob is the log probability the servers report for the i-th token.
func Logprob(i int) float64 { return -float64(i%8+1) / 8 }

// Failure is what a server does to one request instead of answering it
// normally. The zero Failure answers normally.
type Failure struct {
	// Status, when set, answers with this HTTP status and an error body.
	Status int
	// Message is the error's message; ErrorType the Bedrock error type
	// (X-Amzn-ErrorType), e.g. "ThrottlingException".
	Message   string
	ErrorType string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// DropAfter > 0 sends that many tokens and then cuts the connection; -1
	// cuts it before the first token.
	DropAfter int
	// Exception (Bedrock), when set with DropAfter, ends the stream with an
	// exception frame of this type (e.g. "throttlingException") instead of
	// cutting the connection.
	Exception string
	// EndEarly ends the response cleanly after the tokens (DropAfter of
	// them when set) but without a finish reason, stop event or [DONE], as
	// an upstream that died behind a proxy does.
	EndEarly bool
	// Hang sends the response headers (and DropAfter tokens, when set) and
	// then waits until the client goes away.
	Hang bool
}

// failures is a queue of failures for the next requests.
type failures struct {
	mu sync.Mutex
	q  []Failure
}

func (f *failures) push(fs ...Failure) {
	f.mu.Lock()
	f.q = append(f.q, fs...)
	f.mu.Unlock()
}

func (f *failures) pop() Failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.q) == 0 {
		return Failure{}
	}
	x := f.q[0]
	f.q = f.q[1:]
	return x
}

// plan is what a server generates for one request.
type plan struct {
	tokens  []string
	finish  string // "stop" or "length"
	matched string // the stop sequence that ended generation, or ""
}

// makePlan generates up to maxTokens tokens of reply, cut before the first
// stop sequence (which is not part of the output).
func makePlan(reply []string, maxTokens int, stops []string) plan {
	p := plan{finish: "stop"}
	n := min(maxTokens, len(reply))
	if maxTokens < len(reply) {
		p.finish = "length"
	}
	full := strings.Join(reply[:n], "")
	cut, matched := -1, ""
	for _, s := range stops {
		if s == "" {
			continue
		}
		if i := strings.Index(full, s); i >= 0 && (cut < 0 || i < cut) {
			cut, matched = i, s
		}
	}
	if cut < 0 {
		p.tokens = reply[:n]
		return p
	}
	p.finish, p.matched = "stop", matched
	end := 0
	for _, t := range reply[:n] {
		if end+len(t) <= cut {
			p.tokens = append(p.tokens, t)
			end += len(t)
			continue
		}
		if end < cut {
			p.tokens = append(p.tokens, t[:cut-end])
		}
		break
	}
	return p
}

// countWords is the servers' prompt token count: whitespace-separated words
// plus 2 per chat message, deliberately unlike strata's estimate.
func countWords(texts []string, chat bool) int {
	n := 0
	for _, t := range texts {
		n += len(strings.Fields(t))
		if chat {
			n += 2
		}
	}
	return n
}

// sleep waits d or until done is closed, reporting whether d passed.
func sleep(d time.Duration, done <-chan struct{}) bool {
	if d <= 0 {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// hasPAN reports whether s holds a run of digits (spaces and dashes allowed
// between them) that is a card number of a major brand at an issued length
// (Visa, Mastercard, American Express, Discover) and passes the Luhn check.
// It is written apart from the guard's detector on purpose: it checks the
// guard.
func hasPAN(s string) bool {
	var digits []byte
	flush := func() bool {
		defer func() { digits = digits[:0] }()
		return majorBrand(digits) && luhn(digits)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c-'0')
		case (c == ' ' || c == '-') && len(digits) > 0:
		default:
			if flush() {
				return true
			}
		}
	}
	return flush()
}

// majorBrand reports whether the digits d have the prefix and length of a
// Visa, Mastercard, American Express or Discover card.
func majorBrand(d []byte) bool {
	n := len(d)
	if n < 13 || n > 19 {
		return false
	}
	p2 := int(d[0])*10 + int(d[1])
	p4 := p2*100 + int(d[2])*10 + int(d[3])
	switch {
	case d[0] == 4:
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720:
		return n == 16
	case p2 == 34, p2 == 37:
		return n == 15
	case p4 == 6011, p2 == 65:
		return n >= 16
	}
	return false
}

func luhn(d []byte) bool {
	sum := 0
	for i := range d {
		x := int(d[len(d)-1-i])
		if i%2 == 1 {
			x *= 2
			if x > 9 {
				x -= 9
			}
		}
		sum += x
	}
	return sum%10 == 0
}
