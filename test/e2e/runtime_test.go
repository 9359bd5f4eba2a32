package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	btypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"strata/internal/convert"
	"strata/internal/modelgen"
)

// importStories converts llama2.c's stories260K (../shared) with the
// engine's converter, imports it, and returns the model ARN.
func importStories(t *testing.T, s *server, name string) string {
	t.Helper()
	shared := sharedDir(t)
	dir := filepath.Join(s.dataDir, "buckets", "models", name)
	err := convert.Llama2C(t.Context(), filepath.Join(shared, "models", "stories260K", "stories260K.bin"),
		filepath.Join(shared, "models", "stories260K", "tok512.bin"), dir, convert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.awsConfig(t)
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	c := bedrock.NewFromConfig(cfg)
	out, err := c.CreateModelImportJob(t.Context(), &bedrock.CreateModelImportJobInput{
		JobName: aws.String(name + "-job"), ImportedModelName: aws.String(name),
		RoleArn:         aws.String("arn:aws:iam::" + aws.ToString(id.Account) + ":role/BedrockModelImportRole"),
		ModelDataSource: &btypes.ModelDataSourceMemberS3DataSource{Value: btypes.S3DataSource{S3Uri: aws.String("s3://models/" + name + "/")}},
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

// referenceContinuation is run.c's greedy text after "Once upon a time".
func referenceContinuation(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(sharedDir(t), "models", "stories260K", "expected_greedy_t0.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ref, ok := strings.CutPrefix(string(b), "Once upon a time")
	if !ok {
		t.Fatal("unexpected reference text")
	}
	return ref
}

func writeConfig(t *testing.T, yaml string) string {
	p := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// invokeUntilReady retries ModelNotReadyException, as Go callers must.
func invokeUntilReady(t *testing.T, c *bedrockruntime.Client, in *bedrockruntime.InvokeModelInput) (*bedrockruntime.InvokeModelOutput, int) {
	t.Helper()
	notReady := 0
	for range 600 {
		out, err := c.InvokeModel(t.Context(), in)
		if _, ok := errors.AsType[*types.ModelNotReadyException](err); ok {
			notReady++
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return out, notReady
	}
	t.Fatal("the model never became ready")
	return nil, 0
}

// TestRuntimeGoSDK drives InvokeModel, both streams, Converse and
// CountTokens with aws-sdk-go-v2's bedrockruntime client against
// stories260K served by the built-in engine.
func TestRuntimeGoSDK(t *testing.T) {
	s := startServer(t, "", "--config", writeConfig(t, "runtime:\n  cold_start_wait: 0s\n"))
	modelARN := importStories(t, s, "stories")
	c := bedrockruntime.NewFromConfig(s.awsConfig(t))
	ctx := t.Context()
	ref := referenceContinuation(t)

	// A cold model answers ModelNotReadyException first (Bedrock's contract
	// while an imported model warms), then serves.
	body := `{"prompt":"Once upon a time","max_gen_len":251,"temperature":0}`
	out, notReady := invokeUntilReady(t, c, &bedrockruntime.InvokeModelInput{ModelId: aws.String(modelARN), Body: []byte(body), ContentType: aws.String("application/json")})
	if notReady == 0 {
		t.Error("the first call to a cold model did not get ModelNotReadyException")
	}
	var gen struct {
		Generation           string `json:"generation"`
		PromptTokenCount     int    `json:"prompt_token_count"`
		GenerationTokenCount int    `json:"generation_token_count"`
		StopReason           string `json:"stop_reason"`
	}
	if err := json.Unmarshal(out.Body, &gen); err != nil {
		t.Fatalf("%v: %s", err, out.Body)
	}
	if !strings.HasPrefix(ref, gen.Generation) || len(gen.Generation) < 400 {
		t.Errorf("greedy text differs from run.c's:\n got %q\nwant %q", gen.Generation, ref)
	}
	if gen.PromptTokenCount != 5 || gen.GenerationTokenCount == 0 || gen.StopReason == "" {
		t.Errorf("counts: %+v", gen)
	}

	t.Run("invoke-by-name-openai-completion", func(t *testing.T) {
		out, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("stories"),
			Body: []byte(`{"prompt":"Once upon a time","max_tokens":20,"temperature":0}`)})
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Choices []struct{ Text, FinishReason string }
		}
		json.Unmarshal(out.Body, &r)
		if len(r.Choices) != 1 || !strings.HasPrefix(ref, r.Choices[0].Text) {
			t.Errorf("body %s", out.Body)
		}
	})

	t.Run("response-stream", func(t *testing.T) {
		out, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
			ModelId: aws.String(modelARN), Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		stream := out.GetStream()
		defer stream.Close()
		var text strings.Builder
		var last map[string]any
		for ev := range stream.Events() {
			chunk, ok := ev.(*types.ResponseStreamMemberChunk)
			if !ok {
				t.Fatalf("unexpected event %T", ev)
			}
			var c map[string]any
			if err := json.Unmarshal(chunk.Value.Bytes, &c); err != nil {
				t.Fatal(err)
			}
			text.WriteString(c["generation"].(string))
			last = c
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != gen.Generation {
			t.Errorf("streamed text differs from InvokeModel's:\n%q\n%q", text.String(), gen.Generation)
		}
		if _, ok := last["amazon-bedrock-invocationMetrics"]; !ok || last["stop_reason"] == nil {
			t.Errorf("last chunk %v", last)
		}
	})

	t.Run("converse", func(t *testing.T) {
		out, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(modelARN),
			Messages:        []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "Tell me a story"}}}},
			InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(30), Temperature: aws.Float32(0)},
		})
		if err != nil {
			t.Fatal(err)
		}
		msg := out.Output.(*types.ConverseOutputMemberMessage).Value
		if msg.Role != types.ConversationRoleAssistant || len(msg.Content) != 1 {
			t.Fatalf("message %+v", msg)
		}
		if out.Usage == nil || aws.ToInt32(out.Usage.OutputTokens) == 0 || out.StopReason == "" || out.Metrics == nil {
			t.Errorf("usage %+v stop %q", out.Usage, out.StopReason)
		}
	})

	t.Run("converse-stream", func(t *testing.T) {
		out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(modelARN),
			Messages:        []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "Tell me a story"}}}},
			InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(30), Temperature: aws.Float32(0)},
		})
		if err != nil {
			t.Fatal(err)
		}
		stream := out.GetStream()
		defer stream.Close()
		var kinds []string
		for ev := range stream.Events() {
			switch e := ev.(type) {
			case *types.ConverseStreamOutputMemberMessageStart:
				kinds = append(kinds, "start")
			case *types.ConverseStreamOutputMemberContentBlockDelta:
				if _, ok := e.Value.Delta.(*types.ContentBlockDeltaMemberText); !ok {
					t.Errorf("delta %T", e.Value.Delta)
				}
				if len(kinds) == 0 || kinds[len(kinds)-1] != "delta" {
					kinds = append(kinds, "delta")
				}
			case *types.ConverseStreamOutputMemberContentBlockStop:
				kinds = append(kinds, "stop")
			case *types.ConverseStreamOutputMemberMessageStop:
				kinds = append(kinds, "messageStop")
			case *types.ConverseStreamOutputMemberMetadata:
				kinds = append(kinds, "metadata")
				if aws.ToInt32(e.Value.Usage.OutputTokens) == 0 {
					t.Error("no output tokens in metadata")
				}
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(kinds, ","); got != "start,delta,stop,messageStop,metadata" {
			t.Errorf("events %s", got)
		}
	})

	t.Run("count-tokens", func(t *testing.T) {
		out, err := c.CountTokens(ctx, &bedrockruntime.CountTokensInput{ModelId: aws.String(modelARN),
			Input: &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: []byte(body)}}})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(out.InputTokens) != 5 {
			t.Errorf("inputTokens = %d, want 5", aws.ToInt32(out.InputTokens))
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get(s.endpoint + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text := string(b)
		for _, want := range []string{
			`strata_invocations_total{api="InvokeModel",model="` + modelARN + `",outcome="ok"}`,
			`strata_invocations_total{api="InvokeModel",model="` + modelARN + `",outcome="ModelNotReadyException"}`,
			`strata_tokens_total{api="ConverseStream",direction="output",model="` + modelARN + `"}`,
			`strata_time_to_first_token_seconds_bucket{api="InvokeModelWithResponseStream"`,
			`strata_model_loads_total{model="` + modelARN + `",outcome="ok"} 1`,
			`strata_model_copies{model="` + modelARN + `"} 1`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("bad-input", func(t *testing.T) {
		tests := []struct {
			name, model, body string
			want              string
		}{
			{"malformed-json", modelARN, `{"prompt":`, "ValidationException"},
			{"unknown-model", "arn:aws:bedrock:us-east-1:123456789012:imported-model/nosuchmodel1", body, "ResourceNotFoundException"},
			{"wrong-family-body", modelARN, `{"inputText":"hi","textGenerationConfig":{}}`, "ValidationException"},
			{"max-tokens-out-of-range", modelARN, `{"prompt":"hi","max_gen_len":100000}`, "ValidationException"},
			{"negative-max-tokens", modelARN, `{"prompt":"hi","max_tokens":-1}`, "ValidationException"},
			{"oversize-body", modelARN, `{"prompt":"` + strings.Repeat("a", 17<<20) + `"}`, "ValidationException"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(tc.model), Body: []byte(tc.body)})
				var ae interface{ ErrorCode() string }
				if !errors.As(err, &ae) || ae.ErrorCode() != tc.want {
					t.Errorf("err = %v, want %s", err, tc.want)
				}
			})
		}
	})
}

// TestRuntimeJSSDK runs the runtime flow with the JS SDK v3, whose Node
// client speaks HTTP/2 without TLS (h2c).
func TestRuntimeJSSDK(t *testing.T) {
	jsDir := jsTestDir(t)
	s := startServer(t, "")
	modelARN := importStories(t, s, "stories-js")
	ref := filepath.Join(t.TempDir(), "ref.txt")
	os.WriteFile(ref, []byte(referenceContinuation(t)), 0o600)
	runNode(t, s, jsDir, "runtime_flow.mjs", modelARN, ref)
}

// TestClientDisconnectFreesSlot: a client that goes away mid-stream frees
// the engine's slot at once, so with one sequence per model the next
// request starts right away instead of waiting out the abandoned one.
func TestClientDisconnectFreesSlot(t *testing.T) {
	s := startServer(t, "", "--config", writeConfig(t, "runtime:\n  max_sequences: 1\n  cold_start_wait: 60s\n"))
	spec := modelgen.Stories15M() // slow enough that 250 tokens take seconds
	uri := putModel(t, s, "models", "slow", spec)
	cfg := s.awsConfig(t)
	id, _ := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	bc := bedrock.NewFromConfig(cfg)
	out, err := bc.CreateModelImportJob(t.Context(), &bedrock.CreateModelImportJobInput{
		JobName: aws.String("slow-job"), ImportedModelName: aws.String("slow"),
		RoleArn:         aws.String("arn:aws:iam::" + aws.ToString(id.Account) + ":role/BedrockModelImportRole"),
		ModelDataSource: &btypes.ModelDataSourceMemberS3DataSource{Value: btypes.S3DataSource{S3Uri: aws.String(uri)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if job := waitJob(t, bc, aws.ToString(out.JobArn)); job.Status != btypes.ModelImportJobStatusCompleted {
		t.Fatalf("import: %s", aws.ToString(job.FailureMessage))
	}
	c := bedrockruntime.NewFromConfig(cfg)
	long := []byte(`{"prompt":"hello","max_gen_len":250,"temperature":0}`)
	// Warm the model and time a full generation.
	start := time.Now()
	if _, err := c.InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{ModelId: aws.String("slow"), Body: long}); err != nil {
		t.Fatal(err)
	}
	full := time.Since(start)

	ctx, cancel := context.WithCancel(t.Context())
	stream, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String("slow"), Body: long})
	if err != nil {
		t.Fatal(err)
	}
	<-stream.GetStream().Events() // the first chunk
	cancel()                      // the client goes away
	stream.GetStream().Close()

	start = time.Now()
	if _, err := c.InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{ModelId: aws.String("slow"),
		Body: []byte(`{"prompt":"hello","max_gen_len":1,"temperature":0}`)}); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(start)
	t.Logf("a full generation takes %v; the next request after a disconnect took %v", full, waited)
	if waited > full/2 {
		t.Errorf("the next request waited %v (a full generation is %v): the abandoned stream kept the slot", waited, full)
	}
}
