package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	btypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"strata/internal/events"
)

// TestJobEventsWebhook configures a signed webhook and sees an import job
// and a customization job reported as EventBridge events, each state once,
// with signatures a receiver can verify.
func TestJobEventsWebhook(t *testing.T) {
	const secret = "webhook-test-secret"
	var mu sync.Mutex
	var got []events.Event
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := events.Verify(secret, r.Header, body, time.Now(), 0); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e events.Event
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("event JSON: %v", err)
		}
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	defer recv.Close()
	t.Setenv("STRATA_TEST_WEBHOOK_SECRET", secret)
	s := startServer(t, "", "--config", writeConfig(t, "events:\n  webhooks:\n    - name: ops\n      url: "+recv.URL+"\n      secret_env: STRATA_TEST_WEBHOOK_SECRET\n"))
	ctx := t.Context()
	base := importStories(t, s, "stories")
	id, err := sts.NewFromConfig(s.awsConfig(t)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	sc := s.s3Client(t)
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("training")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("training"), Key: aws.String("train.jsonl"),
		Body: bytes.NewReader(jsonLines(t, supportPairs(t, 0, 8)))}); err != nil {
		t.Fatal(err)
	}
	c := bedrock.NewFromConfig(s.awsConfig(t))
	out, err := c.CreateModelCustomizationJob(ctx, &bedrock.CreateModelCustomizationJobInput{
		JobName: aws.String("events-ft"), CustomModelName: aws.String("events-model"),
		RoleArn:             aws.String("arn:aws:iam::" + aws.ToString(id.Account) + ":role/BedrockCustomModelRole"),
		BaseModelIdentifier: aws.String(base),
		TrainingDataConfig:  &btypes.TrainingDataConfig{S3Uri: aws.String("s3://training/train.jsonl")},
		OutputDataConfig:    &btypes.OutputDataConfig{S3Uri: aws.String("s3://training/out/")},
		HyperParameters:     map[string]string{"epochCount": "1", "batchSize": "4"},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitCustomization(t, c, aws.ToString(out.JobArn), ended)

	want := map[string][]string{
		events.DetailTypeImportJob:        {"Completed", "InProgress"},
		events.DetailTypeCustomizationJob: {"Completed", "InProgress"},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := map[string][]string{}
		mu.Lock()
		for _, e := range got {
			var d struct {
				JobStatus string `json:"jobStatus"`
				JobArn    string `json:"jobArn"`
			}
			json.Unmarshal(e.Detail, &d)
			if e.Source != "aws.bedrock" || e.Account != aws.ToString(id.Account) || !slices.Contains(e.Resources, d.JobArn) {
				t.Errorf("event %+v", e)
			}
			seen[e.DetailType] = append(seen[e.DetailType], d.JobStatus)
		}
		mu.Unlock()
		done := true
		for typ, statuses := range want {
			slices.Sort(seen[typ])
			if !slices.Equal(seen[typ], statuses) {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events received: %v, want each of %v", seen, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
