package upstream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"strata/internal/engine"
	"strata/internal/engine/upstream/upstreamtest"
	"strata/internal/guard"
)

func TestSSEReader(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    []string
		wantErr error
	}{
		{name: "two-events", in: "data: a\n\ndata: b\n\n", want: []string{"a", "b"}, wantErr: io.EOF},
		{name: "crlf-and-comments", in: ": ping\r\n\r\nevent: x\r\ndata: {\"a\":1}\r\n\r\n", want: []string{`{"a":1}`}, wantErr: io.EOF},
		{name: "multi-line-data", in: "data: a\ndata:b\n\n", want: []string{"a\nb"}, wantErr: io.EOF},
		{name: "cut-inside-event", in: "data: a\n\ndata: b\n", want: []string{"a"}, wantErr: io.ErrUnexpectedEOF},
		{name: "cut-inside-line", in: "data: a\n\ndata: b", want: []string{"a"}, wantErr: io.ErrUnexpectedEOF},
		{name: "too-large", in: "data: " + strings.Repeat("x", maxEvent+1) + "\n\n", wantErr: errEventTooLarge},
		{name: "long-but-fits", in: "data: " + strings.Repeat("x", 100<<10) + "\n\n", want: []string{strings.Repeat("x", 100<<10)}, wantErr: io.EOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newSSEReader(strings.NewReader(tc.in))
			var got []string
			var err error
			for {
				var data []byte
				if data, err = r.next(); err != nil {
					break
				}
				got = append(got, string(data))
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("events = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzSSE feeds arbitrary bytes to the SSE reader: it must not panic, and
// no event may exceed maxEvent.
func FuzzSSE(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[]}\n\ndata: [DONE]\n\n"))
	f.Add([]byte(": c\r\ndata:x\r\ndata: y\r\n\r\n"))
	f.Add([]byte("data"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := newSSEReader(bytes.NewReader(in))
		for range len(in) + 1 {
			data, err := r.next()
			if err != nil {
				return
			}
			if len(data) > maxEvent {
				t.Fatalf("event of %d bytes", len(data))
			}
		}
		if _, err := r.next(); err == nil {
			t.Fatal("more events than input bytes")
		}
	})
}

// FuzzChunk feeds arbitrary chunk data to the stream state: it must not
// panic, and the text it emits is the text it reports.
func FuzzChunk(f *testing.F) {
	f.Add([]byte(`{"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.5}]},"finish_reason":null}]}`), true)
	f.Add([]byte(`{"choices":[{"index":0,"text":"a","logprobs":{"tokens":["a"],"token_logprobs":[null]},"finish_reason":"stop","stop_reason":"x"}]}`), true)
	f.Add([]byte(`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}`), false)
	f.Add([]byte(`{"error":{"message":"boom"}}`), false)
	f.Fuzz(func(t *testing.T, data []byte, logprobs bool) {
		var sb strings.Builder
		var res engine.Result
		s := streamState{req: engine.Request{Logprobs: logprobs, Stop: []string{"x"}}, res: &res,
			emit: func(tok engine.Token) error { sb.WriteString(tok.Text); return nil }}
		s.chunk(data, "sk-secret-key")
		if res.Text = s.text.String(); res.Text != sb.String() {
			t.Fatalf("result text %q, emitted %q", res.Text, sb.String())
		}
	})
}

// FuzzSanitize checks that an upstream message never passes on the API
// key, a bearer token, control characters or a card number.
func FuzzSanitize(f *testing.F) {
	const key = "sk-live-abcdef0123456789"
	f.Add("maximum context length is 4096 tokens")
	f.Add("bad key " + key + " for card 4111111111111111")
	f.Add("Authorization: Bearer abc.def\n\x00\x1b[31m")
	// Found by fuzzing: dropping the invalid byte used to join the key.
	f.Add("sk-live-\xb2abcdef0123456789")
	f.Fuzz(func(t *testing.T, msg string) {
		for _, in := range []string{msg, msg + " " + key, key + msg, "Bearer " + msg} {
			out := sanitize(in, key)
			if strings.Contains(out, key) {
				t.Fatalf("key leaked: %q", out)
			}
			if len(out) > maxMessage+64 {
				t.Fatalf("message of %d bytes", len(out))
			}
			for _, r := range out {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("control character in %q", out)
				}
			}
			if _, _, err := guard.Mask(out); err != nil {
				t.Fatalf("card data survived: %q: %v", out, err)
			}
		}
	})
}

// FuzzNoPANReachesUpstream is DESIGN invariant 1 seen from the wire: text
// the guard cleared, sent through the engine, never carries a card number
// that the upstream (which checks with its own Luhn scan) can find.
func FuzzNoPANReachesUpstream(f *testing.F) {
	srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{})
	f.Cleanup(srv.Close)
	o := newOpenAI(f, srv, nil)
	f.Add("my card is 4111 1111 1111 1111, exp 12/29")
	f.Add("pay with 5555-5555-5555-4444 please")
	f.Add("378282246310005 and 6011111111111117")
	f.Add("no card here, only 12345")
	f.Fuzz(func(t *testing.T, s string) {
		g, _, err := guard.Mask(s)
		if err != nil {
			return // the guard refused it: nothing is sent
		}
		before := srv.PANs()
		req := engine.Request{Messages: []engine.Message{{Role: "user", Content: g}}, MaxTokens: 2}
		_, err = o.Generate(t.Context(), req, func(engine.Token) error { return nil })
		if n := srv.PANs() - before; n != 0 {
			t.Fatalf("the upstream received a card number: %q cleared as %q", s, g.String())
		}
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
	})
}
