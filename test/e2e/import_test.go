package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"strata/internal/modelgen"
)

// putModel generates a tiny Mistral folder into the embedded bucket and
// returns its s3 URI.
func putModel(t *testing.T, s *server, bucket, prefix string, spec modelgen.Spec) string {
	t.Helper()
	dir := filepath.Join(s.dataDir, "buckets", bucket, filepath.FromSlash(prefix))
	if err := modelgen.Generate(dir, spec); err != nil {
		t.Fatal(err)
	}
	return "s3://" + bucket + "/" + prefix + "/"
}

func waitJob(t *testing.T, c *bedrock.Client, jobARN string) *bedrock.GetModelImportJobOutput {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		job, err := c.GetModelImportJob(t.Context(), &bedrock.GetModelImportJobInput{JobIdentifier: aws.String(jobARN)})
		if err != nil {
			t.Fatal(err)
		}
		if job.Status != types.ModelImportJobStatusInProgress {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still InProgress", jobARN)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	jobARNRE   = regexp.MustCompile(`^arn:aws:bedrock:us-east-1:\d{12}:model-import-job/[a-z0-9]{12}$`)
	modelARNRE = regexp.MustCompile(`^arn:aws:bedrock:us-east-1:\d{12}:imported-model/[a-z0-9]{12}$`)
)

// TestImportFlowGoSDK runs the guide's flow with aws-sdk-go-v2, only the
// endpoint changed, on the embedded metadata store and on PostgreSQL.
func TestImportFlowGoSDK(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testImportFlowGoSDK(t, startServer(t, "")) })
	t.Run("postgres", func(t *testing.T) {
		testImportFlowGoSDK(t, startServer(t, "", "--metadata-url", freshPostgres(t)))
	})
}

func testImportFlowGoSDK(t *testing.T, s *server) {
	cfg := s.awsConfig(t)
	ctx := t.Context()

	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	account := aws.ToString(id.Account)
	if !regexp.MustCompile(`^\d{12}$`).MatchString(account) || !strings.HasSuffix(aws.ToString(id.Arn), ":user/admin") {
		t.Fatalf("GetCallerIdentity = %s %s", account, aws.ToString(id.Arn))
	}
	role := "arn:aws:iam::" + account + ":role/BedrockModelImportRole"
	uri := putModel(t, s, "models", "mistral/tiny", modelgen.TinyMistral())
	c := bedrock.NewFromConfig(cfg)

	create := &bedrock.CreateModelImportJobInput{
		JobName: aws.String("tiny-import"), ImportedModelName: aws.String("tiny-mistral"), RoleArn: aws.String(role),
		ModelDataSource:    &types.ModelDataSourceMemberS3DataSource{Value: types.S3DataSource{S3Uri: aws.String(uri)}},
		ClientRequestToken: aws.String("token-1"),
		JobTags:            []types.Tag{{Key: aws.String("team"), Value: aws.String("support")}},
		ImportedModelTags:  []types.Tag{{Key: aws.String("tier"), Value: aws.String("cheap")}},
	}
	out, err := c.CreateModelImportJob(ctx, create)
	if err != nil {
		t.Fatal(err)
	}
	jobARN := aws.ToString(out.JobArn)
	if !jobARNRE.MatchString(jobARN) {
		t.Fatalf("jobArn %q", jobARN)
	}
	// The same token and request is idempotent.
	again, err := c.CreateModelImportJob(ctx, create)
	if err != nil || aws.ToString(again.JobArn) != jobARN {
		t.Fatalf("idempotent retry: %v %v", again, err)
	}
	job := waitJob(t, c, jobARN)
	if job.Status != types.ModelImportJobStatusCompleted {
		t.Fatalf("job %s: %s", job.Status, aws.ToString(job.FailureMessage))
	}
	if job.EndTime == nil || job.CreationTime == nil || aws.ToString(job.RoleArn) != role || !strings.Contains(aws.ToString(job.ImportedModelKmsKeyArn), ":kms:") {
		t.Errorf("job fields: %+v", job)
	}
	modelARN := aws.ToString(job.ImportedModelArn)
	if !modelARNRE.MatchString(modelARN) {
		t.Fatalf("importedModelArn %q", modelARN)
	}
	// By name, by ARN.
	for _, ident := range []string{"tiny-mistral", modelARN} {
		m, err := c.GetImportedModel(ctx, &bedrock.GetImportedModelInput{ModelIdentifier: aws.String(ident)})
		if err != nil {
			t.Fatalf("GetImportedModel(%s): %v", ident, err)
		}
		if aws.ToString(m.ModelArn) != modelARN || aws.ToString(m.ModelArchitecture) != "mistral" || aws.ToString(m.JobArn) != jobARN {
			t.Errorf("GetImportedModel = %+v", m)
		}
	}
	list, err := c.ListImportedModels(ctx, &bedrock.ListImportedModelsInput{NameContains: aws.String("tiny")})
	if err != nil || len(list.ModelSummaries) != 1 || aws.ToString(list.ModelSummaries[0].ModelArn) != modelARN {
		t.Fatalf("ListImportedModels = %+v, %v", list, err)
	}
	jobs, err := c.ListModelImportJobs(ctx, &bedrock.ListModelImportJobsInput{StatusEquals: types.ModelImportJobStatusCompleted, SortOrder: types.SortOrderAscending})
	if err != nil || len(jobs.ModelImportJobSummaries) != 1 {
		t.Fatalf("ListModelImportJobs = %+v, %v", jobs, err)
	}
	tags, err := c.ListTagsForResource(ctx, &bedrock.ListTagsForResourceInput{ResourceARN: aws.String(modelARN)})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "tier" {
		t.Fatalf("model tags = %+v, %v", tags, err)
	}
	if _, err := c.TagResource(ctx, &bedrock.TagResourceInput{ResourceARN: aws.String(jobARN), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("test")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &bedrock.UntagResourceInput{ResourceARN: aws.String(jobARN), TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	jt, err := c.ListTagsForResource(ctx, &bedrock.ListTagsForResourceInput{ResourceARN: aws.String(jobARN)})
	if err != nil || len(jt.Tags) != 1 || aws.ToString(jt.Tags[0].Key) != "env" {
		t.Fatalf("job tags = %+v, %v", jt, err)
	}

	// Errors arrive as the SDK's typed errors.
	_, err = c.CreateModelImportJob(ctx, &bedrock.CreateModelImportJobInput{
		JobName: aws.String("tiny-import"), ImportedModelName: aws.String("other"), RoleArn: aws.String(role),
		ModelDataSource: &types.ModelDataSourceMemberS3DataSource{Value: types.S3DataSource{S3Uri: aws.String(uri)}},
	})
	if _, ok := errors.AsType[*types.ConflictException](err); !ok {
		t.Errorf("duplicate job name: %v, want ConflictException", err)
	}
	_, err = c.CreateModelImportJob(ctx, &bedrock.CreateModelImportJobInput{
		JobName: aws.String("bad-role"), ImportedModelName: aws.String("other"), RoleArn: aws.String("arn:aws:iam::" + account + ":role/Nope"),
		ModelDataSource: &types.ModelDataSourceMemberS3DataSource{Value: types.S3DataSource{S3Uri: aws.String(uri)}},
	})
	if _, ok := errors.AsType[*types.ValidationException](err); !ok {
		t.Errorf("unknown role: %v, want ValidationException", err)
	}
	_, err = c.GetModelImportJob(ctx, &bedrock.GetModelImportJobInput{JobIdentifier: aws.String("no-such-job")})
	if _, ok := errors.AsType[*types.ResourceNotFoundException](err); !ok {
		t.Errorf("unknown job: %v, want ResourceNotFoundException", err)
	}

	if _, err := c.DeleteImportedModel(ctx, &bedrock.DeleteImportedModelInput{ModelIdentifier: aws.String("tiny-mistral")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetImportedModel(ctx, &bedrock.GetImportedModelInput{ModelIdentifier: aws.String(modelARN)})
	if _, ok := errors.AsType[*types.ResourceNotFoundException](err); !ok {
		t.Errorf("deleted model: %v, want ResourceNotFoundException", err)
	}
	// Its encrypted artifacts are gone too.
	left, _ := filepath.Glob(filepath.Join(s.dataDir, "artifacts", "*", "imported-models", "*", "*", "files", "*"))
	if len(left) != 0 {
		t.Errorf("artifacts left after delete: %v", left)
	}
}

// TestImportFailures sees a bad model folder end as a Failed job with a
// message that says what and where, and no model.
func TestImportFailures(t *testing.T) {
	s := startServer(t, "")
	cfg := s.awsConfig(t)
	c := bedrock.NewFromConfig(cfg)
	id, _ := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	role := "arn:aws:iam::" + aws.ToString(id.Account) + ":role/BedrockModelImportRole"
	uri := putModel(t, s, "models", "evil", modelgen.TinyMistral())
	dir := filepath.Join(s.dataDir, "buckets", "models", "evil")
	os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), []byte("\x80\x02cposix\nsystem\n."), 0o644)
	out, err := c.CreateModelImportJob(t.Context(), &bedrock.CreateModelImportJobInput{
		JobName: aws.String("evil"), ImportedModelName: aws.String("evil"), RoleArn: aws.String(role),
		ModelDataSource: &types.ModelDataSourceMemberS3DataSource{Value: types.S3DataSource{S3Uri: aws.String(uri)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	job := waitJob(t, c, aws.ToString(out.JobArn))
	if job.Status != types.ModelImportJobStatusFailed || !strings.Contains(aws.ToString(job.FailureMessage), "pytorch_model.bin is a PyTorch pickle") {
		t.Errorf("job = %s %q", job.Status, aws.ToString(job.FailureMessage))
	}
	if _, err := c.GetImportedModel(t.Context(), &bedrock.GetImportedModelInput{ModelIdentifier: aws.String("evil")}); err == nil {
		t.Error("a failed import left a model")
	}
}

// TestAuthentication checks that bad credentials get AWS's error types and
// nothing else.
func TestAuthentication(t *testing.T) {
	s := startServer(t, "")
	akid, secret := s.credentials(t)
	tests := []struct {
		name, id, secret, want string
	}{
		{"unknown-key", "AKIAAAAAAAAAAAAAAAAA", secret, "UnrecognizedClientException"},
		{"wrong-secret", akid, secret + "x", "InvalidSignatureException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := s.awsConfig(t)
			cfg.Credentials = credentials.NewStaticCredentialsProvider(tc.id, tc.secret, "")
			_, err := bedrock.NewFromConfig(cfg).ListImportedModels(t.Context(), &bedrock.ListImportedModelsInput{})
			ae, ok := errors.AsType[smithy.APIError](err)
			if !ok || ae.ErrorCode() != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
			if strings.Contains(ae.ErrorMessage(), secret) {
				t.Error("the error message leaks the secret")
			}
		})
	}
}

// TestImportFlowJSSDK runs the same flow with the AWS SDK for JavaScript
// v3 (test/js/import_flow.mjs).
func TestImportFlowJSSDK(t *testing.T) {
	jsDir := jsTestDir(t)
	s := startServer(t, "")
	cfg := s.awsConfig(t)
	id, _ := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	role := "arn:aws:iam::" + aws.ToString(id.Account) + ":role/BedrockModelImportRole"
	uri := putModel(t, s, "models", "js/tiny", modelgen.TinyMistral())
	runNode(t, s, jsDir, "import_flow.mjs", uri, role, "js-tiny")
}

// jsTestDir returns test/js, skipping the test when its packages are not
// installed (CI installs them and fails instead).
func jsTestDir(t *testing.T) string {
	t.Helper()
	jsDir, _ := filepath.Abs(filepath.Join("..", "js"))
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@aws-sdk", "client-bedrock-runtime")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the JS SDK is not installed: .ci/run must run npm ci in test/js")
		}
		t.Skip("the JS SDK is not installed; run: (cd test/js && npm ci)")
	}
	return jsDir
}

// runNode runs a test/js script against s with the admin credentials and
// fails unless it prints "ok":true.
func runNode(t *testing.T, s *server, jsDir, script string, args ...string) {
	t.Helper()
	akid, secret := s.credentials(t)
	cmd := exec.CommandContext(t.Context(), "node", append([]string{script}, args...)...)
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), "STRATA_ENDPOINT="+s.endpoint, "AWS_ACCESS_KEY_ID="+akid,
		"AWS_SECRET_ACCESS_KEY="+secret, "AWS_REGION=us-east-1", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_CONFIG_FILE=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"ok":true`) {
		t.Fatalf("node %s: %v\n%s", script, err, out)
	}
}
