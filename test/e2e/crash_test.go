package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"strata/internal/modelgen"
)

// TestCrashMidImport kills the server with SIGKILL in the middle of an
// import, restarts it on the same data directory, and sees no partial model
// and the job resumed to completion with every file's hash right.
func TestCrashMidImport(t *testing.T) {
	dataDir := t.TempDir()
	s := startServer(t, dataDir)
	cfg := s.awsConfig(t)
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	role := "arn:aws:iam::" + aws.ToString(id.Account) + ":role/BedrockModelImportRole"
	// Big enough that the copy takes a while on any machine.
	uri := putModel(t, s, "models", "big", modelgen.SizedMistral(384<<20))
	c := bedrock.NewFromConfig(cfg)
	out, err := c.CreateModelImportJob(t.Context(), &bedrock.CreateModelImportJobInput{
		JobName: aws.String("big-import"), ImportedModelName: aws.String("big"), RoleArn: aws.String(role),
		ModelDataSource: &types.ModelDataSourceMemberS3DataSource{Value: types.S3DataSource{S3Uri: aws.String(uri)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Kill as soon as the first encrypted bytes are being written.
	tmp := filepath.Join(dataDir, "artifacts", "tmp")
	deadline := time.Now().Add(time.Minute)
	for {
		if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the import never started writing")
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.kill()

	s2 := startServer(t, dataDir)
	c2 := bedrock.NewFromConfig(s2.awsConfig(t))
	// Whatever the job's state, no model is visible until it completes.
	job, err := c2.GetModelImportJob(t.Context(), &bedrock.GetModelImportJobInput{JobIdentifier: out.JobArn})
	if err != nil {
		t.Fatal(err)
	}
	if job.Status == types.ModelImportJobStatusInProgress {
		if _, err := c2.GetImportedModel(t.Context(), &bedrock.GetImportedModelInput{ModelIdentifier: aws.String("big")}); err == nil {
			t.Fatal("a half-imported model is visible")
		}
	}
	job = waitJob(t, c2, aws.ToString(out.JobArn))
	if job.Status != types.ModelImportJobStatusCompleted {
		t.Fatalf("resumed job ended %s: %s", job.Status, aws.ToString(job.FailureMessage))
	}
	// The manifest's hashes are those of the source files.
	manifests, _ := filepath.Glob(filepath.Join(dataDir, "artifacts", "objects", "imported-models", "*", "*", "manifest.json"))
	if len(manifests) != 1 {
		t.Fatalf("manifests: %v", manifests)
	}
	b, _ := os.ReadFile(manifests[0])
	var m struct {
		Files []struct{ Name, SHA256 string }
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dataDir, "buckets", "models", "big")
	for _, f := range m.Files {
		if got := fileSHA256(t, filepath.Join(src, f.Name)); got != f.SHA256 {
			t.Errorf("%s: manifest sha256 %s, source %s", f.Name, f.SHA256, got)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("temporary files left behind: %d", len(entries))
	}
	if !strings.Contains(s2.logs.String(), "resuming an interrupted import job") {
		t.Errorf("the restart did not say it resumed the job")
	}
}

func fileSHA256(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}
