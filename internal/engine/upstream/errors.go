package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"strata/internal/apierr"
	"strata/internal/guard"
)

// maxErrorBody bounds how much of an upstream error body is read.
const maxErrorBody = 64 << 10

// maxMessage bounds an upstream message passed on to the caller.
const maxMessage = 300

// sanitize makes an upstream message safe to show the caller: secrets are
// removed, card data masked, control characters dropped and the length cut.
func sanitize(msg string, secrets ...string) string {
	msg = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			return ' '
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return -1
		}
		return r
	}, msg)
	msg = strings.Join(strings.Fields(msg), " ")
	// Redact after the clean-up, which could join the parts of a secret.
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[REDACTED]")
		}
	}
	msg = redactBearer(msg)
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !isRuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "..."
	}
	return guard.MaskString(msg)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// redactBearer removes what follows "Bearer " and key-like "sk-" words.
func redactBearer(msg string) string {
	words := strings.Fields(msg)
	changed := false
	for i, w := range words {
		if i > 0 && strings.EqualFold(words[i-1], "bearer") {
			words[i] = "[REDACTED]"
			changed = true
		}
		if strings.HasPrefix(w, "sk-") && len(w) > 8 {
			words[i] = "[REDACTED]"
			changed = true
		}
	}
	if !changed {
		return msg
	}
	return strings.Join(words, " ")
}

// upstreamMessage extracts the human message from an error body in the
// shapes OpenAI-compatible servers use: {"error":{"message"}} (OpenAI,
// vLLM, llama.cpp, Ollama), {"error":"..."} (TGI), {"message"} and
// {"detail"} (FastAPI), or plain text.
func upstreamMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &v) == nil {
		if len(v.Error) > 0 {
			var s string
			if json.Unmarshal(v.Error, &s) == nil && s != "" {
				return s
			}
			var o struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(v.Error, &o) == nil && o.Message != "" {
				return o.Message
			}
		}
		if v.Message != "" {
			return v.Message
		}
		if len(v.Detail) > 0 {
			var s string
			if json.Unmarshal(v.Detail, &s) == nil {
				return s
			}
			return string(v.Detail)
		}
	}
	return strings.TrimSpace(string(body))
}

// statusFailure classifies a non-2xx upstream response.
func statusFailure(resp *http.Response, secrets ...string) *failure {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	raw := upstreamMessage(body)
	code := resp.StatusCode
	cause := fmt.Errorf("upstream answered %d: %s", code, sanitize(raw, secrets...))
	f := &failure{err: cause}
	switch {
	case code == http.StatusTooManyRequests:
		f.kind, f.msg, f.retry = apierr.Throttling, "The upstream model server is busy. Try your request again.", true
		f.retryAfter = retryAfter(resp.Header.Get("Retry-After"))
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity || code == http.StatusRequestEntityTooLarge:
		msg := sanitize(raw, secrets...)
		if msg == "" {
			msg = "The upstream model server refused the request."
		}
		f.kind, f.msg = apierr.Validation, msg
	case code == http.StatusRequestTimeout || code == http.StatusGatewayTimeout:
		f.kind, f.msg, f.retry = apierr.ModelTimeout, "The upstream model server timed out.", code == http.StatusGatewayTimeout
	case code == http.StatusBadGateway || code == http.StatusServiceUnavailable:
		f.kind, f.msg, f.retry = apierr.ModelError, "The upstream model server is unavailable.", true
		f.retryAfter = retryAfter(resp.Header.Get("Retry-After"))
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		f.kind, f.msg = apierr.ModelError, "The upstream model server refused strata's credentials."
	case code == http.StatusNotFound:
		f.kind, f.msg = apierr.ModelError, "The upstream model server does not serve this model."
	default:
		f.kind, f.msg = apierr.ModelError, "The upstream model server failed."
	}
	return f
}

// retryAfter parses a Retry-After header in seconds (dates are ignored).
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// transportFailure classifies an error from sending a request or reading
// its response. Errors before any response are worth a retry.
func transportFailure(err error) *failure {
	f := &failure{kind: apierr.ModelError, msg: "The upstream model server could not be reached.", err: err, retry: true}
	f.unreachable = isUnreachable(err)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		f.retry = false
	}
	return f
}

// isUnreachable reports whether err means the upstream could not be reached
// at all (as opposed to failing mid-response).
func isUnreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return true
	}
	return false
}

// streamFailure is a stream that broke after the response started.
func streamFailure(err error) *failure {
	return &failure{kind: apierr.ModelError, msg: "The upstream model server's stream broke.", err: err, retry: true}
}

// estimateTokens is the token estimate used when the upstream cannot count:
// bytes/4 rounded up, plus 4 per chat message for the template.
func estimateTokens(texts []string, chat bool) int {
	n := 0
	for _, t := range texts {
		n += (len(t) + 3) / 4
		if chat {
			n += 4
		}
	}
	return max(n, 1)
}
