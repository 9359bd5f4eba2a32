package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	btypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// invokeText invokes modelID with a Llama body and returns its text.
func invokeText(t *testing.T, c *bedrockruntime.Client, modelID, body string) string {
	t.Helper()
	out, err := c.InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{ModelId: aws.String(modelID), Body: []byte(body)})
	if err != nil {
		t.Fatalf("invoking %s: %v", modelID, err)
	}
	var g struct {
		Generation string `json:"generation"`
	}
	if err := json.Unmarshal(out.Body, &g); err != nil {
		t.Fatal(err)
	}
	return g.Generation
}

func noRetries(o *bedrockruntime.Options) { o.Retryer = aws.NopRetryer{} }

// invokeBurst fires n concurrent InvokeModel calls without SDK retries and
// counts successes and ThrottlingExceptions; any other error fails t.
func invokeBurst(t *testing.T, c *bedrockruntime.Client, modelID, body string, n int) (ok, throttled int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := c.InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{ModelId: aws.String(modelID), Body: []byte(body)}, noRetries)
			mu.Lock()
			defer mu.Unlock()
			if _, isThrottle := errors.AsType[*types.ThrottlingException](err); isThrottle {
				throttled++
			} else if err != nil {
				t.Errorf("unexpected error: %v", err)
			} else {
				ok++
			}
		})
	}
	wg.Wait()
	return ok, throttled
}

// TestThrottledBurst configures a small on-demand quota and checks that a
// burst gets ThrottlingException past it and succeeds again once the
// bucket refills, with the quota kept in memory and in Redis.
func TestThrottledBurst(t *testing.T) {
	redisURL := os.Getenv("STRATA_TEST_REDIS")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	for _, tc := range []struct{ name, extra string }{
		{"local", ""},
		{"redis", "  redis_url: " + redisURL + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, "", "--config", writeConfig(t, "quotas:\n  requests_per_minute: 30\n  tokens_per_minute: 0\n"+tc.extra))
			modelARN := importStories(t, s, "stories")
			c := bedrockruntime.NewFromConfig(s.awsConfig(t))
			body := `{"prompt":"Once upon a time","max_gen_len":4,"temperature":0}`
			invokeUntilReady(t, c, &bedrockruntime.InvokeModelInput{ModelId: aws.String(modelARN), Body: []byte(body)})

			ok, throttled := invokeBurst(t, c, modelARN, body, 45)
			t.Logf("burst of 45 at 30 requests/minute: %d served, %d throttled", ok, throttled)
			if throttled < 10 || ok < 25 {
				t.Errorf("%d served and %d throttled; want about 29 and 16", ok, throttled)
			}
			// The streaming APIs refuse the same way, before the stream starts.
			streamThrottled := false
			for range 3 {
				out, err := c.InvokeModelWithResponseStream(t.Context(), &bedrockruntime.InvokeModelWithResponseStreamInput{
					ModelId: aws.String(modelARN), Body: []byte(body)}, noRetries)
				if err == nil {
					out.GetStream().Close()
				}
				if _, ok := errors.AsType[*types.ThrottlingException](err); ok {
					streamThrottled = true
					break
				} else if err != nil {
					t.Fatalf("a throttled stream: %v", err)
				}
			}
			if !streamThrottled {
				t.Error("InvokeModelWithResponseStream was never throttled over the quota")
			}
			// 30 per minute refills one request every 2s.
			time.Sleep(2500 * time.Millisecond)
			if _, err := c.InvokeModel(t.Context(), &bedrockruntime.InvokeModelInput{ModelId: aws.String(modelARN), Body: []byte(body)}, noRetries); err != nil {
				t.Fatalf("after the window: %v", err)
			}
		})
	}
}

// TestProvisionedAndProfiles drives the provisioned-throughput and
// inference-profile control planes with aws-sdk-go-v2's bedrock client,
// and invokes through both with bedrockruntime, on both metadata stores.
func TestProvisionedAndProfiles(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testProvisionedAndProfiles(t) })
	t.Run("postgres", func(t *testing.T) { testProvisionedAndProfiles(t, "--metadata-url", freshPostgres(t)) })
}

func testProvisionedAndProfiles(t *testing.T, extra ...string) {
	s := startServer(t, "", append([]string{"--config", writeConfig(t, "quotas:\n  streams_per_unit: 1\n  provisioned_queue_wait: 0s\n")}, extra...)...)
	modelARN := importStories(t, s, "stories")
	cfg := s.awsConfig(t)
	bc := bedrock.NewFromConfig(cfg)
	rc := bedrockruntime.NewFromConfig(cfg)
	ctx := t.Context()
	body := `{"prompt":"Once upon a time","max_gen_len":60,"temperature":0}`
	invokeUntilReady(t, rc, &bedrockruntime.InvokeModelInput{ModelId: aws.String(modelARN), Body: []byte(body)})
	direct := invokeText(t, rc, modelARN, body)
	if direct == "" {
		t.Fatal("the direct call generated nothing")
	}

	t.Run("provisioned", func(t *testing.T) {
		created, err := bc.CreateProvisionedModelThroughput(ctx, &bedrock.CreateProvisionedModelThroughputInput{
			ProvisionedModelName: aws.String("stories-pt"), ModelId: aws.String("stories"), ModelUnits: aws.Int32(1),
			CommitmentDuration: btypes.CommitmentDurationOneMonth, ClientRequestToken: aws.String("pt-token-1"),
			Tags: []btypes.Tag{{Key: aws.String("team"), Value: aws.String("support")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		ptARN := aws.ToString(created.ProvisionedModelArn)
		if !regexpMatch(`^arn:aws:bedrock:us-east-1:[0-9]{12}:provisioned-model/[a-z0-9]{12}$`, ptARN) {
			t.Fatalf("provisionedModelArn %q", ptARN)
		}
		again, err := bc.CreateProvisionedModelThroughput(ctx, &bedrock.CreateProvisionedModelThroughputInput{
			ProvisionedModelName: aws.String("stories-pt"), ModelId: aws.String("stories"), ModelUnits: aws.Int32(1),
			CommitmentDuration: btypes.CommitmentDurationOneMonth, ClientRequestToken: aws.String("pt-token-1"),
		})
		if err != nil || aws.ToString(again.ProvisionedModelArn) != ptARN {
			t.Fatalf("a retried create: %v", err)
		}

		var got *bedrock.GetProvisionedModelThroughputOutput
		for range 300 {
			got, err = bc.GetProvisionedModelThroughput(ctx, &bedrock.GetProvisionedModelThroughputInput{ProvisionedModelId: aws.String(ptARN)})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != btypes.ProvisionedModelStatusCreating {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got.Status != btypes.ProvisionedModelStatusInService || aws.ToString(got.ModelArn) != modelARN ||
			aws.ToInt32(got.ModelUnits) != 1 || aws.ToString(got.ProvisionedModelName) != "stories-pt" ||
			got.CommitmentDuration != btypes.CommitmentDurationOneMonth || got.CommitmentExpirationTime == nil || got.CreationTime == nil {
			t.Fatalf("get: %+v", got)
		}

		for _, tc := range []struct {
			name string
			in   bedrock.ListProvisionedModelThroughputsInput
			want int
		}{
			{"all", bedrock.ListProvisionedModelThroughputsInput{}, 1},
			{"in-service", bedrock.ListProvisionedModelThroughputsInput{StatusEquals: btypes.ProvisionedModelStatusInService}, 1},
			{"failed", bedrock.ListProvisionedModelThroughputsInput{StatusEquals: btypes.ProvisionedModelStatusFailed}, 0},
			{"model-arn", bedrock.ListProvisionedModelThroughputsInput{ModelArnEquals: aws.String(modelARN)}, 1},
			{"name-contains", bedrock.ListProvisionedModelThroughputsInput{NameContains: aws.String("nope")}, 0},
			{"ascending", bedrock.ListProvisionedModelThroughputsInput{SortBy: btypes.SortByProvisionedModelsCreationTime, SortOrder: btypes.SortOrderAscending, MaxResults: aws.Int32(5)}, 1},
		} {
			t.Run("list-"+tc.name, func(t *testing.T) {
				out, err := bc.ListProvisionedModelThroughputs(ctx, &tc.in)
				if err != nil {
					t.Fatal(err)
				}
				if len(out.ProvisionedModelSummaries) != tc.want {
					t.Fatalf("%d summaries, want %d", len(out.ProvisionedModelSummaries), tc.want)
				}
				if tc.want == 1 && aws.ToString(out.ProvisionedModelSummaries[0].ProvisionedModelArn) != ptARN {
					t.Errorf("summary %+v", out.ProvisionedModelSummaries[0])
				}
			})
		}

		if text := invokeText(t, rc, ptARN, body); text != direct {
			t.Errorf("through the provisioned model:\n got %q\nwant %q", text, direct)
		}

		t.Run("tags", func(t *testing.T) {
			if _, err := bc.TagResource(ctx, &bedrock.TagResourceInput{ResourceARN: aws.String(ptARN),
				Tags: []btypes.Tag{{Key: aws.String("cost"), Value: aws.String("cc-7")}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := bc.UntagResource(ctx, &bedrock.UntagResourceInput{ResourceARN: aws.String(ptARN), TagKeys: []string{"team"}}); err != nil {
				t.Fatal(err)
			}
			out, err := bc.ListTagsForResource(ctx, &bedrock.ListTagsForResourceInput{ResourceARN: aws.String(ptARN)})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "cost" {
				t.Errorf("tags %+v", out.Tags)
			}
		})

		t.Run("streams-beyond-the-reservation-are-throttled", func(t *testing.T) {
			// One unit reserves one stream and the queue wait is 0s.
			long := `{"prompt":"Once upon a time","max_gen_len":251,"temperature":0}`
			ok, throttled := invokeBurst(t, rc, ptARN, long, 8)
			t.Logf("8 concurrent streams on 1 reserved: %d served, %d throttled", ok, throttled)
			if ok == 0 || throttled == 0 {
				t.Errorf("%d served, %d throttled; want both", ok, throttled)
			}
		})

		t.Run("update-renames", func(t *testing.T) {
			if _, err := bc.UpdateProvisionedModelThroughput(ctx, &bedrock.UpdateProvisionedModelThroughputInput{
				ProvisionedModelId: aws.String("stories-pt"), DesiredProvisionedModelName: aws.String("stories-pt2"),
				DesiredModelId: aws.String(modelARN)}); err != nil {
				t.Fatal(err)
			}
			got, err := bc.GetProvisionedModelThroughput(ctx, &bedrock.GetProvisionedModelThroughputInput{ProvisionedModelId: aws.String("stories-pt2")})
			if err != nil || aws.ToString(got.ProvisionedModelArn) != ptARN || got.Status != btypes.ProvisionedModelStatusInService {
				t.Fatalf("%v %+v", err, got)
			}
		})

		t.Run("delete", func(t *testing.T) {
			if _, err := bc.DeleteProvisionedModelThroughput(ctx, &bedrock.DeleteProvisionedModelThroughputInput{ProvisionedModelId: aws.String(ptARN)}); err != nil {
				t.Fatal(err)
			}
			_, err := bc.GetProvisionedModelThroughput(ctx, &bedrock.GetProvisionedModelThroughputInput{ProvisionedModelId: aws.String(ptARN)})
			if _, ok := errors.AsType[*btypes.ResourceNotFoundException](err); !ok {
				t.Errorf("get after delete: %v", err)
			}
			_, err = rc.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(ptARN), Body: []byte(body)})
			if _, ok := errors.AsType[*types.ResourceNotFoundException](err); !ok {
				t.Errorf("invoke after delete: %v", err)
			}
		})
	})

	t.Run("provisioned-errors", func(t *testing.T) {
		_, err := bc.CreateProvisionedModelThroughput(ctx, &bedrock.CreateProvisionedModelThroughputInput{
			ProvisionedModelName: aws.String("bad"), ModelId: aws.String("stories"), ModelUnits: aws.Int32(1), CommitmentDuration: "OneYear"})
		if _, ok := errors.AsType[*btypes.ValidationException](err); !ok {
			t.Errorf("bad commitment: %v", err)
		}
		_, err = bc.CreateProvisionedModelThroughput(ctx, &bedrock.CreateProvisionedModelThroughputInput{
			ProvisionedModelName: aws.String("bad"), ModelId: aws.String("no-such-model"), ModelUnits: aws.Int32(1)})
		if _, ok := errors.AsType[*btypes.ResourceNotFoundException](err); !ok {
			t.Errorf("unknown model: %v", err)
		}
	})

	t.Run("inference-profile", func(t *testing.T) {
		created, err := bc.CreateInferenceProfile(ctx, &bedrock.CreateInferenceProfileInput{
			InferenceProfileName: aws.String("support-tier1"), Description: aws.String("tier 1 answers"),
			ModelSource: &btypes.InferenceProfileModelSourceMemberCopyFrom{Value: modelARN},
			Tags:        []btypes.Tag{{Key: aws.String("costCenter"), Value: aws.String("cc-42")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		profARN := aws.ToString(created.InferenceProfileArn)
		if created.Status != btypes.InferenceProfileStatusActive ||
			!regexpMatch(`^arn:aws:bedrock:us-east-1:[0-9]{12}:application-inference-profile/[a-z0-9]{12}$`, profARN) {
			t.Fatalf("created %q %s", profARN, created.Status)
		}
		got, err := bc.GetInferenceProfile(ctx, &bedrock.GetInferenceProfileInput{InferenceProfileIdentifier: aws.String(profARN)})
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != btypes.InferenceProfileTypeApplication || len(got.Models) != 1 || aws.ToString(got.Models[0].ModelArn) != modelARN ||
			aws.ToString(got.InferenceProfileName) != "support-tier1" || aws.ToString(got.Description) != "tier 1 answers" || got.CreatedAt == nil {
			t.Fatalf("get %+v", got)
		}
		profID := aws.ToString(got.InferenceProfileId)
		for _, tc := range []struct {
			typ  btypes.InferenceProfileType
			want int
		}{{btypes.InferenceProfileTypeApplication, 1}, {btypes.InferenceProfileTypeSystemDefined, 0}, {"", 1}} {
			out, err := bc.ListInferenceProfiles(ctx, &bedrock.ListInferenceProfilesInput{TypeEquals: tc.typ})
			if err != nil || len(out.InferenceProfileSummaries) != tc.want {
				t.Errorf("list type %q: %v %+v", tc.typ, err, out)
			}
		}
		for _, id := range []string{profARN, profID} {
			if text := invokeText(t, rc, id, body); text != direct {
				t.Errorf("through the profile %s:\n got %q\nwant %q", id, text, direct)
			}
		}
		tags, err := bc.ListTagsForResource(ctx, &bedrock.ListTagsForResourceInput{ResourceARN: aws.String(profARN)})
		if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "cc-42" {
			t.Errorf("tags: %v %+v", err, tags)
		}
		_, err = bc.CreateInferenceProfile(ctx, &bedrock.CreateInferenceProfileInput{InferenceProfileName: aws.String("fm"),
			ModelSource: &btypes.InferenceProfileModelSourceMemberCopyFrom{Value: "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0"}})
		if _, ok := errors.AsType[*btypes.ValidationException](err); !ok {
			t.Errorf("a foundation-model source: %v", err)
		}
		if _, err := bc.DeleteInferenceProfile(ctx, &bedrock.DeleteInferenceProfileInput{InferenceProfileIdentifier: aws.String(profID)}); err != nil {
			t.Fatal(err)
		}
		_, err = rc.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(profARN), Body: []byte(body)})
		if _, ok := errors.AsType[*types.ResourceNotFoundException](err); !ok {
			t.Errorf("invoke after delete: %v", err)
		}
	})
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
