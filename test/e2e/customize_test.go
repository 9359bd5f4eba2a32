package e2e

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	btypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	rtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"strata/internal/audit"
	"strata/internal/store"
	"strata/internal/store/sqlite"
)

// supportPairs reads n rows of the bitext support corpus from row skip on
// as JSON Lines for fine-tuning: "Customer: {instruction}\nAgent:" and the
// first sentence of the agent's response.
func supportPairs(t *testing.T, skip, n int) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedDir(t), "data", "bitext_customer_support", "bitext_customer_support_4514.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	sentence := regexp.MustCompile(`^.*?[.!?](\s|$)`)
	var out []map[string]string
	for _, row := range rows[1+skip:] {
		if len(out) == n {
			break
		}
		first := strings.TrimSpace(sentence.FindString(row[10]))
		if first == "" {
			first = strings.TrimSpace(row[10])
		}
		out = append(out, map[string]string{"prompt": "Customer: " + row[2] + "\nAgent:", "completion": " " + first})
	}
	return out
}

func jsonLines(t *testing.T, recs []map[string]string) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func waitCustomization(t *testing.T, c *bedrock.Client, jobARN string, until func(*bedrock.GetModelCustomizationJobOutput) bool) *bedrock.GetModelCustomizationJobOutput {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		job, err := c.GetModelCustomizationJob(t.Context(), &bedrock.GetModelCustomizationJobInput{JobIdentifier: aws.String(jobARN)})
		if err != nil {
			t.Fatal(err)
		}
		if until(job) {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s", jobARN, job.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ended(j *bedrock.GetModelCustomizationJobOutput) bool {
	return j.Status != btypes.ModelCustomizationJobStatusInProgress && j.Status != btypes.ModelCustomizationJobStatusStopping
}

func getObject(t *testing.T, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("reading s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCustomizationGoSDK runs the guide's customization flow with
// aws-sdk-go-v2 (endpoint changed only): training data uploaded over S3, a
// fine-tuning job of stories260K on support dialogue, the guide's
// list-custom-models lookup, a deployment answering in the new style, and
// a training file holding a card number refused before training.
func TestCustomizationGoSDK(t *testing.T) {
	s := startServer(t, "", "--config", writeConfig(t, "runtime:\n  cold_start_wait: 0s\n"))
	ctx := t.Context()
	base := importStories(t, s, "stories")
	cfg := s.awsConfig(t)
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	account := aws.ToString(id.Account)
	role := "arn:aws:iam::" + account + ":role/BedrockCustomModelRole"
	sc := s.s3Client(t)
	for _, b := range []string{"training", "outputs"} {
		if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	train := supportPairs(t, 0, 400)
	held := supportPairs(t, 1000, 200)
	poisoned := append([]map[string]string(nil), train...)
	poisoned[16] = map[string]string{"prompt": poisoned[16]["prompt"], "completion": " Your card 4111 1111 1111 1111 is blocked."}
	for key, recs := range map[string][]map[string]string{"train.jsonl": train, "val.jsonl": held, "poisoned.jsonl": poisoned} {
		if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("training"), Key: aws.String("support/" + key),
			Body: bytes.NewReader(jsonLines(t, recs))}); err != nil {
			t.Fatal(err)
		}
	}
	c := bedrock.NewFromConfig(cfg)
	hyper := map[string]string{"epochCount": "1", "batchSize": "4", "learningRate": "0.001", "learningRateWarmupSteps": "20"}
	create := func(job, model, data string, hp map[string]string) string {
		t.Helper()
		out, err := c.CreateModelCustomizationJob(ctx, &bedrock.CreateModelCustomizationJobInput{
			JobName: aws.String(job), CustomModelName: aws.String(model), RoleArn: aws.String(role),
			BaseModelIdentifier: aws.String(base), CustomizationType: btypes.CustomizationTypeFineTuning,
			TrainingDataConfig:   &btypes.TrainingDataConfig{S3Uri: aws.String("s3://training/support/" + data)},
			ValidationDataConfig: &btypes.ValidationDataConfig{Validators: []btypes.Validator{{S3Uri: aws.String("s3://training/support/val.jsonl")}}},
			OutputDataConfig:     &btypes.OutputDataConfig{S3Uri: aws.String("s3://outputs/jobs/")},
			HyperParameters:      hp,
		})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.JobArn)
	}

	// Card data in the training file: the job fails at validation, and
	// neither the message nor the report holds the number.
	badARN := create("support-poisoned", "support-poisoned", "poisoned.jsonl", hyper)
	bad := waitCustomization(t, c, badARN, ended)
	msg := aws.ToString(bad.FailureMessage)
	if bad.Status != btypes.ModelCustomizationJobStatusFailed || !strings.Contains(msg, "CREDIT_DEBIT_CARD_NUMBER") || !strings.Contains(msg, "line 17") {
		t.Fatalf("poisoned job: %s %q", bad.Status, msg)
	}
	digits := regexp.MustCompile(`\d{13,19}|1111`)
	if digits.MatchString(msg) {
		t.Errorf("the failure message shows card digits: %q", msg)
	}
	if d := bad.StatusDetails; d == nil || d.ValidationDetails.Status != btypes.JobStatusDetailsFailed || d.TrainingDetails.Status != btypes.JobStatusDetailsNotStarted {
		t.Errorf("poisoned job status details: %+v", d)
	}
	badID := badARN[strings.LastIndex(badARN, "/")+1:]
	report := getObject(t, sc, "outputs", "jobs/model-customization-job-"+badID+"/validation_artifacts/sensitive_data_scan/training.json")
	if !bytes.Contains(report, []byte(`"BLOCKED"`)) || digits.Match(stripHashes(report)) {
		t.Errorf("scan report:\n%s", report)
	}

	// The blocked scan is in the audit trail, as an incident to follow up.
	if !auditHas(t, s, "SensitiveDataBlocked", badARN) {
		t.Error("the audit trail does not record the blocked training data")
	}

	// A clean file trains; the job walks through Bedrock's three phases.
	jobARN := create("support-ft", "support-agent", "train.jsonl", hyper)
	if !regexp.MustCompile(`^arn:aws:bedrock:us-east-1:\d{12}:model-customization-job/[a-z0-9]{12}/[a-z0-9]{12}$`).MatchString(jobARN) {
		t.Errorf("job ARN %s", jobARN)
	}
	job := waitCustomization(t, c, jobARN, ended)
	if job.Status != btypes.ModelCustomizationJobStatusCompleted {
		t.Fatalf("job: %s %s", job.Status, aws.ToString(job.FailureMessage))
	}
	d := job.StatusDetails
	for name, st := range map[string]btypes.JobStatusDetails{"validation": d.ValidationDetails.Status, "data processing": d.DataProcessingDetails.Status, "training": d.TrainingDetails.Status} {
		if st != btypes.JobStatusDetailsCompleted {
			t.Errorf("%s phase %s", name, st)
		}
	}
	if job.TrainingMetrics == nil || len(job.ValidationMetrics) != 1 {
		t.Fatalf("metrics: %+v %+v", job.TrainingMetrics, job.ValidationMetrics)
	}
	valLoss := aws.ToFloat32(job.ValidationMetrics[0].ValidationLoss)
	t.Logf("training loss %.3f, validation loss %.3f", aws.ToFloat32(job.TrainingMetrics.TrainingLoss), valLoss)
	// The base model's loss on these completions is about 4.5 (it knows
	// only children's stories); 100 steps bring it near 2.5.
	if valLoss <= 0 || valLoss > 3 {
		t.Errorf("validation loss %.3f, want a fine-tuned model's (at most 3)", valLoss)
	}
	jobID := jobARN[strings.LastIndex(jobARN, "/")+1:]
	prefix := "jobs/model-customization-job-" + jobID + "/"
	steps := getObject(t, sc, "outputs", prefix+"training_artifacts/step_wise_training_metrics.csv")
	if lines := strings.Split(strings.TrimSpace(string(steps)), "\n"); lines[0] != "step_number,epoch_number,training_loss,perplexity" || len(lines) != 101 {
		t.Errorf("step-wise metrics: header %q, %d lines", lines[0], len(lines))
	}
	vm := getObject(t, sc, "outputs", prefix+"validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv")
	if !strings.HasPrefix(string(vm), "step_number,epoch_number,validation_loss,perplexity\n") {
		t.Errorf("validation metrics: %q", vm)
	}

	// The guide finds the model's ARN with list-custom-models.
	list, err := c.ListCustomModels(ctx, &bedrock.ListCustomModelsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var modelARN string
	for _, m := range list.ModelSummaries {
		if aws.ToString(m.ModelName) == "support-agent" {
			modelARN = aws.ToString(m.ModelArn)
		}
	}
	if modelARN == "" || modelARN != aws.ToString(job.OutputModelArn) || len(list.ModelSummaries) != 1 {
		t.Fatalf("ListCustomModels: %+v, job output %s", list.ModelSummaries, aws.ToString(job.OutputModelArn))
	}
	got, err := c.GetCustomModel(ctx, &bedrock.GetCustomModelInput{ModelIdentifier: aws.String("support-agent")})
	if err != nil || aws.ToString(got.BaseModelArn) != base || got.ModelStatus != btypes.ModelStatusActive {
		t.Fatalf("GetCustomModel: %+v %v", got, err)
	}

	// Custom models and jobs take tags like every Bedrock resource.
	if _, err := c.TagResource(ctx, &bedrock.TagResourceInput{ResourceARN: aws.String(modelARN),
		Tags: []btypes.Tag{{Key: aws.String("team"), Value: aws.String("support")}}}); err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{modelARN, jobARN} {
		if _, err := c.TagResource(ctx, &bedrock.TagResourceInput{ResourceARN: aws.String(res),
			Tags: []btypes.Tag{{Key: aws.String("cost-center"), Value: aws.String("cx")}}}); err != nil {
			t.Fatal(err)
		}
		tl, err := c.ListTagsForResource(ctx, &bedrock.ListTagsForResourceInput{ResourceARN: aws.String(res)})
		if err != nil || len(tl.Tags) == 0 || aws.ToString(tl.Tags[len(tl.Tags)-1].Key) != "cost-center" {
			t.Errorf("tags of %s: %+v %v", res, tl, err)
		}
	}

	// A custom model is invoked through a deployment, as on Bedrock.
	rc := bedrockruntime.NewFromConfig(cfg)
	body := `{"prompt":"Customer: I want to cancel my order\nAgent:","max_gen_len":24,"temperature":0}`
	_, err = rc.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(modelARN), Body: []byte(body)})
	if _, ok := errors.AsType[*rtypes.ValidationException](err); !ok {
		t.Errorf("invoking the custom model itself: %v, want ValidationException", err)
	}
	dep, err := c.CreateCustomModelDeployment(ctx, &bedrock.CreateCustomModelDeploymentInput{
		ModelDeploymentName: aws.String("support-agent-live"), ModelArn: aws.String(modelARN)})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := invokeUntilReady(t, rc, &bedrockruntime.InvokeModelInput{ModelId: dep.CustomModelDeploymentArn, Body: []byte(body)})
	var gen struct{ Generation string }
	json.Unmarshal(out.Body, &gen)
	t.Logf("fine-tuned answer: %q", gen.Generation)
	if !strings.HasPrefix(strings.TrimSpace(gen.Generation), "I understand") {
		t.Errorf("the fine-tuned model answers %q, want the support style (\"I understand...\")", gen.Generation)
	}
	if _, err := c.UpdateCustomModelDeployment(ctx, &bedrock.UpdateCustomModelDeploymentInput{
		CustomModelDeploymentIdentifier: aws.String("support-agent-live"), ModelArn: aws.String(modelARN)}); err != nil {
		t.Fatal(err)
	}
	gd, err := c.GetCustomModelDeployment(ctx, &bedrock.GetCustomModelDeploymentInput{CustomModelDeploymentIdentifier: dep.CustomModelDeploymentArn})
	if err != nil || gd.UpdateDetails == nil || gd.UpdateDetails.UpdateStatus != btypes.CustomModelDeploymentUpdateStatusUpdateCompleted ||
		aws.ToString(gd.ModelArn) != modelARN || gd.Status != btypes.CustomModelDeploymentStatusActive {
		t.Errorf("GetCustomModelDeployment after an update: %+v %v", gd, err)
	}
	baseOut, _ := invokeUntilReady(t, rc, &bedrockruntime.InvokeModelInput{ModelId: aws.String(base), Body: []byte(body)})
	var baseGen struct{ Generation string }
	json.Unmarshal(baseOut.Body, &baseGen)
	if baseGen.Generation == gen.Generation {
		t.Errorf("the base model answers the same: %q", baseGen.Generation)
	}

	// Seed 003's way: provisioned throughput for the custom model.
	pt, err := c.CreateProvisionedModelThroughput(ctx, &bedrock.CreateProvisionedModelThroughputInput{
		ProvisionedModelName: aws.String("support-agent-pt"), ModelId: aws.String(modelARN), ModelUnits: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	for range 300 {
		got, err := c.GetProvisionedModelThroughput(ctx, &bedrock.GetProvisionedModelThroughputInput{ProvisionedModelId: pt.ProvisionedModelArn})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != btypes.ProvisionedModelStatusCreating {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ptOut, _ := invokeUntilReady(t, rc, &bedrockruntime.InvokeModelInput{ModelId: pt.ProvisionedModelArn, Body: []byte(body)})
	var ptGen struct{ Generation string }
	json.Unmarshal(ptOut.Body, &ptGen)
	if ptGen.Generation != gen.Generation {
		t.Errorf("through provisioned throughput: %q, through the deployment: %q", ptGen.Generation, gen.Generation)
	}
	if _, err := c.DeleteProvisionedModelThroughput(ctx, &bedrock.DeleteProvisionedModelThroughputInput{ProvisionedModelId: pt.ProvisionedModelArn}); err != nil {
		t.Fatal(err)
	}

	// The model's files are stored encrypted.
	encrypted := 0
	filepath.WalkDir(filepath.Join(s.dataDir, "artifacts"), func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.Contains(filepath.ToSlash(p), "custom-models/") && strings.HasSuffix(p, ".safetensors.enc") {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte(`"dtype"`)) {
				t.Errorf("%s holds a plaintext safetensors header", p)
			}
			encrypted++
		}
		return nil
	})
	if encrypted == 0 {
		t.Error("no encrypted custom model weights in the artifact store")
	}

	// A deployed model cannot be deleted; once undeployed it can.
	_, err = c.DeleteCustomModel(ctx, &bedrock.DeleteCustomModelInput{ModelIdentifier: aws.String(modelARN)})
	if _, ok := errors.AsType[*btypes.ConflictException](err); !ok {
		t.Errorf("deleting a deployed model: %v, want ConflictException", err)
	}

	// Stop: a long job stops after its current step.
	longHP := map[string]string{"epochCount": "10", "batchSize": "1", "learningRate": "0.001"}
	longARN := create("support-long", "support-long", "train.jsonl", longHP)
	waitCustomization(t, c, longARN, func(j *bedrock.GetModelCustomizationJobOutput) bool {
		return j.StatusDetails != nil && j.StatusDetails.TrainingDetails.Status == btypes.JobStatusDetailsInProgress || ended(j)
	})
	if _, err := c.StopModelCustomizationJob(ctx, &bedrock.StopModelCustomizationJobInput{JobIdentifier: aws.String(longARN)}); err != nil {
		t.Fatal(err)
	}
	long := waitCustomization(t, c, longARN, ended)
	if long.Status != btypes.ModelCustomizationJobStatusStopped || long.StatusDetails.TrainingDetails.Status != btypes.JobStatusDetailsStopped {
		t.Errorf("stopped job: %s, training %s", long.Status, long.StatusDetails.TrainingDetails.Status)
	}
	if _, err := c.GetCustomModel(ctx, &bedrock.GetCustomModelInput{ModelIdentifier: aws.String("support-long")}); err == nil {
		t.Error("a stopped job made a custom model")
	}
	jobs, err := c.ListModelCustomizationJobs(ctx, &bedrock.ListModelCustomizationJobsInput{})
	if err != nil || len(jobs.ModelCustomizationJobSummaries) != 3 {
		t.Fatalf("ListModelCustomizationJobs: %v, %d jobs", err, len(jobs.ModelCustomizationJobSummaries))
	}

	if _, err := c.DeleteCustomModelDeployment(ctx, &bedrock.DeleteCustomModelDeploymentInput{
		CustomModelDeploymentIdentifier: dep.CustomModelDeploymentArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteCustomModel(ctx, &bedrock.DeleteCustomModelInput{ModelIdentifier: aws.String(modelARN)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetCustomModel(ctx, &bedrock.GetCustomModelInput{ModelIdentifier: aws.String(modelARN)})
	if _, ok := errors.AsType[*btypes.ResourceNotFoundException](err); !ok {
		t.Errorf("a deleted model: %v", err)
	}
}

// stripHashes removes the report's SHA-256 (hex, which may hold digit runs).
func stripHashes(b []byte) []byte {
	return regexp.MustCompile(`"sha256":\s*"[0-9a-f]+"`).ReplaceAll(b, nil)
}

// TestCrashMidCustomization kills the server with SIGKILL while a job
// trains, restarts it on the same data directory, and sees no custom model
// until the restarted job completes, exactly one then, and no decrypted
// model files left from the killed run.
func TestCrashMidCustomization(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testCrashMidCustomization(t) })
	t.Run("postgres", func(t *testing.T) { testCrashMidCustomization(t, "--metadata-url", freshPostgres(t)) })
}

func testCrashMidCustomization(t *testing.T, flags ...string) {
	dataDir := t.TempDir()
	s := startServer(t, dataDir, flags...)
	ctx := t.Context()
	base := importStories(t, s, "stories")
	cfg := s.awsConfig(t)
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	sc := s.s3Client(t)
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("training")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("training"), Key: aws.String("train.jsonl"),
		Body: bytes.NewReader(jsonLines(t, supportPairs(t, 0, 200)))}); err != nil {
		t.Fatal(err)
	}
	c := bedrock.NewFromConfig(cfg)
	out, err := c.CreateModelCustomizationJob(ctx, &bedrock.CreateModelCustomizationJobInput{
		JobName: aws.String("crash-ft"), CustomModelName: aws.String("crash-model"),
		RoleArn:             aws.String("arn:aws:iam::" + aws.ToString(id.Account) + ":role/BedrockCustomModelRole"),
		BaseModelIdentifier: aws.String(base),
		TrainingDataConfig:  &btypes.TrainingDataConfig{S3Uri: aws.String("s3://training/train.jsonl")},
		OutputDataConfig:    &btypes.OutputDataConfig{S3Uri: aws.String("s3://training/out/")},
		HyperParameters:     map[string]string{"epochCount": "2", "batchSize": "4", "learningRate": "0.001"},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitCustomization(t, c, aws.ToString(out.JobArn), func(j *bedrock.GetModelCustomizationJobOutput) bool {
		return j.StatusDetails != nil && j.StatusDetails.TrainingDetails.Status == btypes.JobStatusDetailsInProgress || ended(j)
	})
	plain, _ := filepath.Glob("/dev/shm/strata/*/customize/customize-*")
	s.kill()

	s2 := startServer(t, dataDir, flags...)
	for _, p := range plain {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("decrypted files of the killed run are still in %s", p)
		}
	}
	c2 := bedrock.NewFromConfig(s2.awsConfig(t))
	if _, err := c2.GetCustomModel(ctx, &bedrock.GetCustomModelInput{ModelIdentifier: aws.String("crash-model")}); err == nil {
		t.Fatal("a custom model is visible before its job completed")
	}
	job := waitCustomization(t, c2, aws.ToString(out.JobArn), ended)
	if job.Status != btypes.ModelCustomizationJobStatusCompleted {
		t.Fatalf("restarted job ended %s: %s", job.Status, aws.ToString(job.FailureMessage))
	}
	list, err := c2.ListCustomModels(ctx, &bedrock.ListCustomModelsInput{})
	if err != nil || len(list.ModelSummaries) != 1 {
		t.Fatalf("custom models after the restart: %v %+v", err, list)
	}
	if !strings.Contains(s2.logs.String(), "restarting an interrupted customization job") {
		t.Error("the restart did not say it restarted the job")
	}
}

// TestCustomizationJSSDK runs the customization flow with the AWS SDK for
// JavaScript v3 (test/js/customize_flow.mjs).
func TestCustomizationJSSDK(t *testing.T) {
	jsDir := jsTestDir(t)
	s := startServer(t, "")
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
		Body: bytes.NewReader(jsonLines(t, supportPairs(t, 0, 40)))}); err != nil {
		t.Fatal(err)
	}
	runNode(t, s, jsDir, "customize_flow.mjs", base, "s3://training/train.jsonl", "s3://training/out/",
		"arn:aws:iam::"+aws.ToString(id.Account)+":role/BedrockCustomModelRole")
}

// auditHas reports whether an audit block of the server's trail holds all
// of subs, waiting for the trail's flush.
func auditHas(t *testing.T, s *server, subs ...string) bool {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(s.dataDir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 50 {
		recs, _, err := db.List(t.Context(), store.Query{Kind: audit.Kind, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			found := true
			for _, sub := range subs {
				found = found && bytes.Contains(r.Data, []byte(sub))
			}
			if found {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
