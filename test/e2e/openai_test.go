package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	btypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"strata/internal/modelgen"
)

// strataCLI runs the strata binary with args and returns its stdout.
func strataCLI(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), binary, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// createAPIKey makes an API key for the admin user with `strata keys create`.
func createAPIKey(t *testing.T, s *server) string {
	t.Helper()
	key := strings.TrimSpace(strataCLI(t, "keys", "create", "--endpoint", s.endpoint, "--data-dir", s.dataDir))
	if !strings.HasPrefix(key, "sk-strata-") {
		t.Fatalf("keys create printed %q", key)
	}
	return key
}

func openaiClient(s *server, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(s.endpoint+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// apiError checks that err is an OpenAI API error with status and code
// ("" skips the code).
func apiError(t *testing.T, err error, status int, code string) {
	t.Helper()
	ae, ok := errors.AsType[*openai.Error](err)
	if !ok {
		t.Fatalf("err = %v, want an *openai.Error %d", err, status)
	}
	if ae.StatusCode != status || (code != "" && ae.Code != code) || ae.Message == "" || ae.Type == "" {
		t.Errorf("error %d %q %q %q, want %d %q", ae.StatusCode, ae.Type, ae.Code, ae.Message, status, code)
	}
}

// TestOpenAIGoClient drives the OpenAI API with the official Go client
// (github.com/openai/openai-go/v3) against stories260K.
func TestOpenAIGoClient(t *testing.T) {
	s := startServer(t, "")
	importStories(t, s, "stories")
	key := createAPIKey(t, s)
	c := openaiClient(s, key)
	ctx := t.Context()
	ref := referenceContinuation(t)
	prompt := openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")}

	greedy, err := c.Completions.New(ctx, openai.CompletionNewParams{Model: "stories", Prompt: prompt,
		MaxTokens: openai.Int(251), Temperature: openai.Float(0), Logprobs: openai.Int(0)})
	if err != nil {
		t.Fatal(err)
	}
	text := greedy.Choices[0].Text
	if !strings.HasPrefix(ref, text) || len(text) < 400 {
		t.Errorf("greedy text differs from run.c's:\n got %q\nwant %q", text, ref)
	}
	if greedy.Object != "text_completion" || greedy.Usage.PromptTokens != 5 || greedy.Usage.CompletionTokens == 0 {
		t.Errorf("completion %+v usage %+v", greedy.Object, greedy.Usage)
	}

	t.Run("completion-logprobs", func(t *testing.T) {
		lp := greedy.Choices[0].Logprobs
		if int64(len(lp.Tokens)) != greedy.Usage.CompletionTokens || len(lp.TokenLogprobs) != len(lp.Tokens) {
			t.Fatalf("%d tokens, %d logprobs, %d completion tokens", len(lp.Tokens), len(lp.TokenLogprobs), greedy.Usage.CompletionTokens)
		}
		if strings.Join(lp.Tokens, "") != text {
			t.Error("logprob tokens do not join to the text")
		}
		for i, v := range lp.TokenLogprobs {
			if v > 0 || v < -100 {
				t.Errorf("token %d logprob %v", i, v)
			}
		}
	})

	t.Run("completion-stream", func(t *testing.T) {
		st := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{Model: "stories", Prompt: prompt,
			MaxTokens: openai.Int(251), Temperature: openai.Float(0),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
		var got strings.Builder
		var chunks []openai.Completion
		for st.Next() {
			ch := st.Current()
			chunks = append(chunks, ch)
			for _, c := range ch.Choices {
				got.WriteString(c.Text)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if got.String() != text {
			t.Errorf("streamed text differs:\n%q\n%q", got.String(), text)
		}
		if n := len(chunks); n < 3 || len(chunks[n-1].Choices) != 0 || chunks[n-1].Usage.CompletionTokens != greedy.Usage.CompletionTokens ||
			chunks[n-2].Choices[0].FinishReason == "" {
			t.Errorf("the last chunks are not finish then usage: %+v", chunks[max(0, n-2):])
		}
	})

	t.Run("completion-stop", func(t *testing.T) {
		out, err := c.Completions.New(ctx, openai.CompletionNewParams{Model: "stories", Prompt: prompt,
			MaxTokens: openai.Int(100), Temperature: openai.Float(0),
			Stop: openai.CompletionNewParamsStopUnion{OfStringArray: []string{".", "!"}}})
		if err != nil {
			t.Fatal(err)
		}
		want := ref[:strings.IndexAny(ref, ".!")]
		if out.Choices[0].Text != want || out.Choices[0].FinishReason != "stop" {
			t.Errorf("text %q finish %q, want %q stop", out.Choices[0].Text, out.Choices[0].FinishReason, want)
		}
	})

	t.Run("completion-seed", func(t *testing.T) {
		p := openai.CompletionNewParams{Model: "stories", Prompt: prompt, MaxTokens: openai.Int(40), Temperature: openai.Float(1), Seed: openai.Int(42)}
		a, err := c.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if a.Choices[0].Text != b.Choices[0].Text {
			t.Errorf("same seed, different text:\n%q\n%q", a.Choices[0].Text, b.Choices[0].Text)
		}
	})

	chatParams := openai.ChatCompletionNewParams{
		Model: "stories",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You tell short stories."),
			openai.UserMessage("Tell me a story"),
		},
		MaxTokens: openai.Int(30), Temperature: openai.Float(0),
	}
	lpParams := chatParams
	lpParams.Logprobs = openai.Bool(true)
	chat, err := c.Chat.Completions.New(ctx, lpParams)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("chat", func(t *testing.T) {
		ch := chat.Choices[0]
		if chat.Object != "chat.completion" || !strings.HasPrefix(chat.ID, "chatcmpl-") || chat.Model != "stories" || chat.Created == 0 {
			t.Errorf("chat %s %s %s %d", chat.Object, chat.ID, chat.Model, chat.Created)
		}
		if ch.Message.Role != "assistant" || ch.Message.Content == "" || (ch.FinishReason != "stop" && ch.FinishReason != "length") {
			t.Errorf("choice %+v", ch)
		}
		if chat.Usage.CompletionTokens == 0 || chat.Usage.TotalTokens != chat.Usage.PromptTokens+chat.Usage.CompletionTokens {
			t.Errorf("usage %+v", chat.Usage)
		}
	})

	t.Run("chat-logprobs", func(t *testing.T) {
		lp := chat.Choices[0].Logprobs.Content
		if int64(len(lp)) != chat.Usage.CompletionTokens {
			t.Fatalf("%d logprobs for %d tokens", len(lp), chat.Usage.CompletionTokens)
		}
		var joined strings.Builder
		for _, tl := range lp {
			joined.WriteString(tl.Token)
			if tl.Logprob > 0 || string(bytesOf(tl.Bytes)) != tl.Token {
				t.Errorf("token %+v", tl)
			}
		}
		if joined.String() != chat.Choices[0].Message.Content {
			t.Error("logprob tokens do not join to the content")
		}
	})

	t.Run("chat-stream-usage", func(t *testing.T) {
		p := chatParams
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		st := c.Chat.Completions.NewStreaming(ctx, p)
		acc := openai.ChatCompletionAccumulator{}
		var chunks []openai.ChatCompletionChunk
		for st.Next() {
			ch := st.Current()
			acc.AddChunk(ch)
			chunks = append(chunks, ch)
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		n := len(chunks)
		if n < 4 || chunks[0].Choices[0].Delta.Role != "assistant" {
			t.Fatalf("chunks %+v", chunks)
		}
		if chunks[n-1].Object != "chat.completion.chunk" || len(chunks[n-1].Choices) != 0 || chunks[n-1].Usage.CompletionTokens != chat.Usage.CompletionTokens {
			t.Errorf("last chunk %+v", chunks[n-1])
		}
		if chunks[n-2].Choices[0].FinishReason != chat.Choices[0].FinishReason {
			t.Errorf("finish chunk %+v", chunks[n-2])
		}
		if acc.Choices[0].Message.Content != chat.Choices[0].Message.Content {
			t.Errorf("streamed %q, whole %q", acc.Choices[0].Message.Content, chat.Choices[0].Message.Content)
		}
	})

	t.Run("models", func(t *testing.T) {
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != "stories" || page.Data[0].Object != "model" || page.Data[0].OwnedBy == "" || page.Data[0].Created == 0 {
			t.Errorf("models %+v", page.Data)
		}
		m, err := c.Models.Get(ctx, "stories")
		if err != nil || m.ID != "stories" {
			t.Errorf("get: %+v %v", m, err)
		}
		_, err = c.Models.Get(ctx, "no-such-model")
		apiError(t, err, 404, "model_not_found")
	})

	t.Run("sigv4-signed", func(t *testing.T) {
		body := []byte(`{"model":"stories","prompt":"Once upon a time","max_tokens":20,"temperature":0}`)
		resp := signedRequest(t, s, http.MethodPost, "/v1/completions", body)
		var out struct {
			Choices []struct{ Text string }
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil || len(out.Choices) != 1 || !strings.HasPrefix(ref, out.Choices[0].Text) {
			t.Errorf("status %d %+v", resp.StatusCode, out)
		}
	})

	t.Run("errors", func(t *testing.T) {
		bad := openaiClient(s, "sk-strata-aaaaaaaaaaaaaaaa-"+strings.Repeat("b", 52))
		_, err := bad.Chat.Completions.New(ctx, chatParams)
		apiError(t, err, 401, "invalid_api_key")
		notKey := openaiClient(s, "not-a-key")
		_, err = notKey.Models.List(ctx)
		apiError(t, err, 401, "invalid_api_key")

		p := chatParams
		p.Model = "no-such-model"
		_, err = c.Chat.Completions.New(ctx, p)
		apiError(t, err, 404, "model_not_found")

		tests := []struct {
			name string
			edit func(p *openai.ChatCompletionNewParams)
		}{
			{"max-tokens-too-large", func(p *openai.ChatCompletionNewParams) { p.MaxTokens = openai.Int(100000) }},
			{"max-tokens-zero", func(p *openai.ChatCompletionNewParams) { p.MaxCompletionTokens = openai.Int(0) }},
			{"temperature-out-of-range", func(p *openai.ChatCompletionNewParams) { p.Temperature = openai.Float(3) }},
			{"top-logprobs", func(p *openai.ChatCompletionNewParams) {
				p.Logprobs, p.TopLogprobs = openai.Bool(true), openai.Int(3)
			}},
			{"n-2", func(p *openai.ChatCompletionNewParams) { p.N = openai.Int(2) }},
			{"no-messages", func(p *openai.ChatCompletionNewParams) { p.Messages = nil }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := chatParams
				tc.edit(&p)
				_, err := c.Chat.Completions.New(ctx, p)
				apiError(t, err, 400, "")
			})
		}
		t.Run("malformed-json", func(t *testing.T) {
			_, err := c.Chat.Completions.New(ctx, chatParams, option.WithRequestBody("application/json", []byte(`{"model":`)))
			apiError(t, err, 400, "")
		})
		t.Run("oversize-body", func(t *testing.T) {
			big := strings.Repeat("a", 17<<20)
			p := chatParams
			p.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage(big)}
			_, err := c.Chat.Completions.New(ctx, p)
			apiError(t, err, 413, "")
		})
	})

	t.Run("key-lifecycle", func(t *testing.T) {
		key2 := createAPIKey(t, s)
		c2 := openaiClient(s, key2)
		if _, err := c2.Models.List(ctx); err != nil {
			t.Fatal(err)
		}
		id := strings.Split(strings.TrimPrefix(key2, "sk-strata-"), "-")[0]
		list := strataCLI(t, "keys", "list", "--endpoint", s.endpoint, "--data-dir", s.dataDir)
		if !strings.Contains(list, id) || strings.Contains(list, key2) {
			t.Errorf("keys list:\n%s", list)
		}
		strataCLI(t, "keys", "delete", "--endpoint", s.endpoint, "--data-dir", s.dataDir, id)
		_, err := c2.Models.List(ctx)
		apiError(t, err, 401, "invalid_api_key")
		if _, err := c.Models.List(ctx); err != nil {
			t.Errorf("the first key stopped working: %v", err)
		}
	})
}

// bytesOf converts a logprob's byte list.
func bytesOf(b []int64) []byte {
	out := make([]byte, len(b))
	for i, v := range b {
		out[i] = byte(v)
	}
	return out
}

// signedRequest sends a SigV4-signed request with the admin credentials.
func signedRequest(t *testing.T, s *server, method, path string, body []byte) *http.Response {
	t.Helper()
	cfg := s.awsConfig(t)
	creds, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.endpoint+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), "bedrock", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestOpenAIJSClient runs test/js/openai_flow.mjs with the openai npm client.
func TestOpenAIJSClient(t *testing.T) {
	jsDir := jsTestDir(t)
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "openai")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the openai npm client is not installed: .ci/run must run npm ci in test/js")
		}
		t.Skip("the openai npm client is not installed; run: (cd test/js && npm ci)")
	}
	s := startServer(t, "")
	importStories(t, s, "stories-js")
	key := createAPIKey(t, s)
	ref := filepath.Join(t.TempDir(), "ref.txt")
	os.WriteFile(ref, []byte(referenceContinuation(t)), 0o600)
	runNode(t, s, jsDir, "openai_flow.mjs", key, "stories-js", ref)
}

// slowModel is a random Mistral model big enough that a long generation
// takes many seconds on the test machine, with an 8192-token context.
func slowModel() modelgen.Spec {
	s := modelgen.TinyMistral()
	c := &s.Config
	c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers = 512, 1536, 4
	c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = 8, 4, 64
	c.MaxPositionEmbeddings = 8192
	s.Seed = 7
	return s
}

// importGenerated imports a generated model folder and returns its ARN.
func importGenerated(t *testing.T, s *server, name string, spec modelgen.Spec) string {
	t.Helper()
	uri := putModel(t, s, "models", name, spec)
	cfg := s.awsConfig(t)
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	c := bedrock.NewFromConfig(cfg)
	out, err := c.CreateModelImportJob(t.Context(), &bedrock.CreateModelImportJobInput{
		JobName: aws.String(name + "-job"), ImportedModelName: aws.String(name),
		RoleArn:         aws.String("arn:aws:iam::" + aws.ToString(id.Account) + ":role/BedrockModelImportRole"),
		ModelDataSource: &btypes.ModelDataSourceMemberS3DataSource{Value: btypes.S3DataSource{S3Uri: aws.String(uri)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	job := waitJob(t, c, aws.ToString(out.JobArn))
	if job.Status != btypes.ModelImportJobStatusCompleted {
		t.Fatalf("import: %s %s", job.Status, aws.ToString(job.FailureMessage))
	}
	return aws.ToString(job.ImportedModelArn)
}

// streamFirstChunk starts a streamed completion with a raw HTTP request
// and returns once the first content chunk arrives, with the time it took
// and a function that drops the connection. It gives up after limit.
func streamFirstChunk(t *testing.T, s *server, key, body string, limit time.Duration) (time.Duration, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint+"/v1/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	tr := &http.Transport{}
	start := time.Now()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("no response within %v: %v", limit, err)
	}
	drop := func() { cancel(); resp.Body.Close(); tr.CloseIdleConnections() }
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		drop()
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: {") {
			return time.Since(start), drop
		}
	}
	drop()
	t.Fatalf("the stream ended before a chunk (limit %v): %v", limit, sc.Err())
	return 0, nil
}

// TestOpenAIDisconnectFreesSlot checks that a client that drops a stream
// frees the engine slot at once: with one sequence per model, the next
// request must start streaming long before the dropped generation would
// have finished.
func TestOpenAIDisconnectFreesSlot(t *testing.T) {
	s := startServer(t, "", "--config", writeConfig(t, "runtime:\n  max_sequences: 1\n  cold_start_wait: 60s\n"))
	importGenerated(t, s, "slow", slowModel())
	key := createAPIKey(t, s)
	c := openaiClient(s, key)
	ctx := t.Context()

	// Measure the decode speed, so the test knows how long the dropped
	// generation would hold the slot.
	const probe = 200
	start := time.Now()
	out, err := c.Completions.New(ctx, openai.CompletionNewParams{Model: "slow",
		Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
		MaxTokens: openai.Int(probe), Temperature: openai.Float(0)})
	if err != nil {
		t.Fatal(err)
	}
	perToken := time.Since(start) / time.Duration(max(out.Usage.CompletionTokens, 1))
	if out.Usage.CompletionTokens != probe {
		t.Fatalf("the probe stopped after %d tokens (%s); the test needs a model that runs to max_tokens", out.Usage.CompletionTokens, out.Choices[0].FinishReason)
	}
	const long = 8000
	wouldHold := perToken * long
	t.Logf("%v per token; the dropped stream would hold the slot about %v", perToken, wouldHold)

	body := `{"model":"slow","prompt":"Once upon a time","max_tokens":8000,"temperature":0,"stream":true}`
	_, drop := streamFirstChunk(t, s, key, body, time.Minute)
	time.Sleep(50 * time.Millisecond) // the first stream is well under way
	drop()

	bound := 2 * time.Second
	if wouldHold < 3*bound {
		t.Fatalf("the model is too fast (%v for %d tokens) to tell a freed slot from a finished one", wouldHold, long)
	}
	took, drop2 := streamFirstChunk(t, s, key, body, 5*bound)
	drop2()
	if took > bound {
		t.Errorf("the next stream's first chunk took %v after a client dropped its stream; want under %v (the slot was not freed)", took, bound)
	}
	t.Logf("first chunk of the next stream after %v", took)
}

// TestOpenAIColdModel checks the cold-model contract on the OpenAI API: a
// model still loading answers 429 rate_limit_exceeded with Retry-After,
// which the openai clients retry on their own.
func TestOpenAIColdModel(t *testing.T) {
	s := startServer(t, "", "--config", writeConfig(t, "runtime:\n  cold_start_wait: 0s\n"))
	importStories(t, s, "cold")
	key := createAPIKey(t, s)
	p := openai.CompletionNewParams{Model: "cold", MaxTokens: openai.Int(10), Temperature: openai.Float(0),
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")}}

	var resp *http.Response
	noRetry := openaiClient(s, key)
	_, err := noRetry.Completions.New(t.Context(), p, option.WithResponseInto(&resp))
	apiError(t, err, 429, "rate_limit_exceeded")
	if resp == nil || resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After on the cold model's 429")
	}

	// A fresh cold model, and a client with its default retries.
	importStories(t, s, "cold2")
	p.Model = "cold2"
	retrying := openai.NewClient(option.WithBaseURL(s.endpoint+"/v1/"), option.WithAPIKey(key))
	out, err := retrying.Completions.New(t.Context(), p)
	if err != nil {
		t.Fatalf("the client did not get past the cold start: %v", err)
	}
	if !strings.HasPrefix(referenceContinuation(t), out.Choices[0].Text) {
		t.Errorf("text %q", out.Choices[0].Text)
	}
}
