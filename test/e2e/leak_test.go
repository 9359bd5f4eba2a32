package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/openai/openai-go/v3"
)

// canaryPAN is the card number the canary engine puts in its own output,
// split across tokens: the output guard must mask it before any client
// sees it.
const canaryPAN = "4111111111111111"

// canary is a loopback OpenAI-compatible engine that must never see a card
// number: it projects every request body to its digits and fails on any
// PAN the test sent, and on any 13-19 digit Luhn-valid run.
type canary struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	sent    map[string]bool // every PAN the test put in a prompt
	leaks   atomic.Int64
	served  atomic.Int64
	example string
}

func newCanary(t *testing.T) *canary {
	c := &canary{t: t, sent: map[string]bool{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *canary) remember(pan string) {
	c.mu.Lock()
	c.sent[pan] = true
	c.mu.Unlock()
}

// digits projects s to its decimal digits, of any script.
func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsDigit(r) {
			b.WriteByte(byte('0' + digitValue(r)))
		}
	}
	return b.String()
}

func digitValue(r rune) int {
	if r >= '0' && r <= '9' {
		return int(r - '0')
	}
	// Unicode decimal digits come in runs of ten starting at a zero.
	for z := r; z > r-10; z-- {
		if !unicode.IsDigit(z - 1) {
			return int(r - z)
		}
	}
	return 0
}

func (c *canary) leaked(body string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return findSent(digits(body), c.sent)
}

// findSent returns a PAN of sent that occurs in the digit string d.
func findSent(d string, sent map[string]bool) string {
	for i := range d {
		for n := 13; n <= 19 && i+n <= len(d); n++ {
			if sent[d[i:i+n]] {
				return d[i : i+n]
			}
		}
	}
	return ""
}

func (c *canary) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/models":
		w.Write([]byte(`{"object":"list","data":[{"id":"canary","object":"model"}]}`))
		return
	case "/v1/chat/completions", "/v1/completions":
	default:
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if pan := c.leaked(string(body)); pan != "" {
		if c.leaks.Add(1) == 1 {
			c.example = string(body)
		}
		http.Error(w, `{"error":{"message":"leak"}}`, http.StatusBadRequest)
		return
	}
	c.served.Add(1)
	chat := r.URL.Path == "/v1/chat/completions"
	// The reply holds a card number split across tokens.
	reply := []string{"Your", " card", " 4111", " 1111", " 11", "11 1111", " is", " fine."}
	usage := map[string]int{"prompt_tokens": 10, "completion_tokens": len(reply), "total_tokens": 10 + len(reply)}
	var req struct {
		Stream bool `json:"stream"`
	}
	json.Unmarshal(body, &req)
	if !req.Stream {
		// Asked for the whole reply (strata does when its caller does
		// not stream): one JSON object.
		text := strings.Join(reply, "")
		choice := map[string]any{"index": 0, "finish_reason": "stop", "text": text}
		if chat {
			choice = map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]string{"role": "assistant", "content": text}}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{choice}, "usage": usage})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for _, tok := range reply {
		var ch map[string]any
		if chat {
			ch = map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]string{"content": tok}}}}
		} else {
			ch = map[string]any{"choices": []any{map[string]any{"index": 0, "text": tok}}}
		}
		b, _ := json.Marshal(ch)
		fmt.Fprintf(w, "data: %s\n\n", b)
	}
	fin := map[string]any{"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "delta": map[string]string{}, "text": ""}},
		"usage": usage}
	b, _ := json.Marshal(fin)
	fmt.Fprintf(w, "data: %s\n\ndata: [DONE]\n\n", b)
}

// cardGen makes random valid card numbers of every brand, written in the
// shapes people and systems use.
type cardGen struct{ r *rand.Rand }

var brands = []struct {
	prefix string
	length int
}{
	{"4", 16}, {"4", 13}, {"4", 19}, {"51", 16}, {"55", 16}, {"2221", 16}, {"2720", 16}, {"34", 15}, {"37", 15},
	{"6011", 16}, {"65", 16}, {"3528", 16}, {"3589", 16}, {"36", 14}, {"300", 14}, {"62", 16}, {"6304", 16},
}

func (g cardGen) pan() string {
	b := brands[g.r.IntN(len(brands))]
	d := []byte(b.prefix)
	for len(d) < b.length-1 {
		d = append(d, byte('0'+g.r.IntN(10)))
	}
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if (len(d)-1-i)%2 == 0 {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
	}
	return string(append(d, byte('0'+(10-sum%10)%10)))
}

// shape writes pan in one of many shapes.
func (g cardGen) shape(pan string) string {
	group := func(sep string) string {
		var b strings.Builder
		for i, r := range pan {
			if i > 0 && i%4 == 0 {
				b.WriteString(sep)
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	mapDigits := func(zero rune) string {
		var b strings.Builder
		for _, r := range pan {
			b.WriteRune(zero + (r - '0'))
		}
		return b.String()
	}
	switch g.r.IntN(10) {
	case 0:
		return pan
	case 1:
		return group(" ")
	case 2:
		return group("-")
	case 3:
		return group(".")
	case 4:
		return group("\n")
	case 5:
		return mapDigits('０') // full-width
	case 6:
		return mapDigits('٠') // Arabic-Indic
	case 7:
		return group("\u200b") // zero-width space
	case 8:
		return `{"card":"` + group(" ") + `"}`
	default:
		return "<b>" + group(" - ") + "</b>"
	}
}

var leakTemplates = []string{
	"Hi, my card %s was charged twice for the same order.",
	"Please refund the payment on %s, it was not me.",
	"Card number: %s, expiry 09/27, CVV 123. Why was it declined?",
	"I want to close the account linked to %s.",
	"My new card %s doesn't work at the ATM.",
}

// prompt returns a support message holding a fresh card number, and
// remembers the number in the canary.
func (g cardGen) prompt(c *canary) string {
	pan := g.pan()
	c.remember(pan)
	return fmt.Sprintf(leakTemplates[g.r.IntN(len(leakTemplates))], g.shape(pan))
}

// TestNoCardDataReachesAModel drives more than 100,000 prompts holding card
// numbers through every API (InvokeModel, both streams, Converse, chat
// completions with and without streaming, /query) into a canary engine
// that fails on any card number; none reaches it, none of the canary's own
// card number reaches a client, and none appears in the server's logs or
// stored records.
func TestNoCardDataReachesAModel(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 100,000 prompts")
	}
	c := newCanary(t)
	cfg := writeConfig(t, fmt.Sprintf(`
quotas: {requests_per_minute: 0, tokens_per_minute: 0}
engines:
  - {name: canary, type: openai, url: %q, model: canary, estimate_tokens: true, probe_interval: 0s, retries: 0}
router:
  tiers:
    - {name: simple, model: canary, input_per_1k: 0.0002, output_per_1k: 0.0006}
    - {name: standard, model: canary, input_per_1k: 0.001, output_per_1k: 0.003}
    - {name: complex, model: canary, input_per_1k: 0.006, output_per_1k: 0.018}
`, c.srv.URL+"/v1"))
	s := startServer(t, "", "--config", cfg)
	key := createAPIKey(t, s)
	awsCfg := s.awsConfig(t)
	oa := openaiClient(s, key)
	ctx := t.Context()

	const perRequest = 10
	type api struct {
		name     string
		requests int
		prompts  int // prompts per request
		call     func(g cardGen, br *bedrockruntime.Client) (string, error)
	}
	turns := func(g cardGen) []types.Message {
		var msgs []types.Message
		for i := range perRequest {
			role := types.ConversationRoleUser
			if i%2 == 1 {
				role = types.ConversationRoleAssistant
			}
			msgs = append(msgs, types.Message{Role: role, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: g.prompt(c)}}})
		}
		return msgs
	}
	lines := func(g cardGen) string {
		var b strings.Builder
		for range perRequest {
			b.WriteString(g.prompt(c))
			b.WriteString("\nNext message:\n")
		}
		return b.String()
	}
	invokeBody := func(g cardGen) []byte {
		b, _ := json.Marshal(map[string]any{"prompt": lines(g), "max_tokens": 16})
		return b
	}
	apis := []api{
		{"InvokeModel", 2000, perRequest, func(g cardGen, br *bedrockruntime.Client) (string, error) {
			out, err := br.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("canary"), Body: invokeBody(g)})
			if err != nil {
				return "", err
			}
			return string(out.Body), nil
		}},
		{"InvokeModelWithResponseStream", 2000, perRequest, func(g cardGen, br *bedrockruntime.Client) (string, error) {
			out, err := br.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String("canary"), Body: invokeBody(g)})
			if err != nil {
				return "", err
			}
			var b strings.Builder
			for ev := range out.GetStream().Events() {
				if ch, ok := ev.(*types.ResponseStreamMemberChunk); ok {
					b.Write(ch.Value.Bytes)
				}
			}
			return b.String(), out.GetStream().Err()
		}},
		{"Converse", 2000, perRequest, func(g cardGen, br *bedrockruntime.Client) (string, error) {
			out, err := br.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String("canary"), Messages: turns(g),
				InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(16)}})
			if err != nil {
				return "", err
			}
			b, _ := json.Marshal(out.Output)
			return string(b), nil
		}},
		{"ConverseStream", 1500, perRequest, func(g cardGen, br *bedrockruntime.Client) (string, error) {
			out, err := br.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String("canary"), Messages: turns(g),
				InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(16)}})
			if err != nil {
				return "", err
			}
			var b strings.Builder
			for ev := range out.GetStream().Events() {
				if d, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
					if tx, ok := d.Value.Delta.(*types.ContentBlockDeltaMemberText); ok {
						b.WriteString(tx.Value)
					}
				}
			}
			return b.String(), out.GetStream().Err()
		}},
		{"chat.completions", 1500, perRequest, func(g cardGen, br *bedrockruntime.Client) (string, error) {
			var msgs []openai.ChatCompletionMessageParamUnion
			for i := range perRequest {
				if i%2 == 0 {
					msgs = append(msgs, openai.UserMessage(g.prompt(c)))
				} else {
					msgs = append(msgs, openai.AssistantMessage(g.prompt(c)))
				}
			}
			out, err := oa.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "canary", Messages: msgs, MaxTokens: openai.Int(16)})
			if err != nil {
				return "", err
			}
			return out.Choices[0].Message.Content, nil
		}},
		{"chat.completions stream", 1000, perRequest, func(g cardGen, br *bedrockruntime.Client) (string, error) {
			var msgs []openai.ChatCompletionMessageParamUnion
			for range perRequest / 2 {
				msgs = append(msgs, openai.UserMessage(g.prompt(c)), openai.AssistantMessage(g.prompt(c)))
			}
			st := oa.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "canary", Messages: msgs, MaxTokens: openai.Int(16)})
			var b strings.Builder
			for st.Next() {
				for _, ch := range st.Current().Choices {
					b.WriteString(ch.Delta.Content)
				}
			}
			return b.String(), st.Err()
		}},
		{"query", 1500, 1, func(g cardGen, br *bedrockruntime.Client) (string, error) {
			body, _ := json.Marshal(map[string]string{"query": g.prompt(c)})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint+"/query", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				return "", fmt.Errorf("/query: %s %s", resp.Status, b)
			}
			return string(b), nil
		}},
	}
	var prompts, failures atomic.Int64
	var firstErr atomic.Value
	for _, a := range apis {
		jobs := make(chan int)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				g := cardGen{rand.New(rand.NewPCG(uint64(w), uint64(len(a.name))))}
				// A client per worker: smithy-go v1.28.8 shares an event-stream
				// decoder between a client's concurrent streams (a data race
				// in the SDK, seen under -race).
				br := bedrockruntime.NewFromConfig(awsCfg)
				for range jobs {
					out, err := a.call(g, br)
					if err != nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", a.name, err))
						continue
					}
					prompts.Add(int64(a.prompts))
					if strings.Contains(digits(out), canaryPAN) {
						t.Errorf("%s: the canary's card number reached the client: %q", a.name, out)
					}
				}
			})
		}
		n := a.requests
		if f := os.Getenv("STRATA_LEAK_SCALE"); f != "" {
			var scale float64
			fmt.Sscan(f, &scale)
			n = int(float64(n) * scale)
		}
		for i := range n {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
	}
	t.Logf("%d prompts with card numbers delivered through %d APIs; %d requests failed; the canary served %d requests",
		prompts.Load(), len(apis), failures.Load(), c.served.Load())
	if n := c.leaks.Load(); n > 0 {
		t.Fatalf("%d requests reached the canary with a card number, e.g.:\n%s", n, c.example)
	}
	if os.Getenv("STRATA_LEAK_SCALE") == "" && prompts.Load() < 100_000 {
		t.Errorf("only %d prompts were delivered (first error: %v)", prompts.Load(), firstErr.Load())
	}

	// Nothing in the logs or the stored records.
	s.stop()
	c.mu.Lock()
	sent := c.sent
	c.mu.Unlock()
	check := func(where string, data []byte) {
		// Both the digits of any script and the raw ASCII runs.
		for _, d := range []string{digits(string(data)), asciiDigits(data)} {
			if p := findSent(d, sent); p != "" {
				t.Errorf("%s holds the card number %s…", where, p[:6])
				return
			}
		}
	}
	check("the server log", []byte(s.logs.String()))
	filepath.WalkDir(s.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, err := os.ReadFile(p); err == nil {
				check(p, b)
			}
		}
		return nil
	})
}

// asciiDigits keeps the ASCII digits of binary data (a database file).
func asciiDigits(b []byte) string {
	out := make([]byte, 0, len(b)/4)
	for _, c := range b {
		if c >= '0' && c <= '9' {
			out = append(out, c)
		}
	}
	return string(out)
}
