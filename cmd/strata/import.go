package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const importHelp = `usage: strata import --name NAME (--s3-uri s3://BUCKET/PREFIX/ | DIR) [flags]

Imports a Hugging Face model folder (config.json, tokenizer, .safetensors)
through the Bedrock CreateModelImportJob API, shows the job's progress and
prints the imported model's ARN. A DIR argument must be on the server's
machine (it is sent as a file:// URI); use --s3-uri for a bucket.

flags:
`

func runImport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, importHelp); fs.PrintDefaults() }
	cf := addClientFlags(fs)
	name := fs.String("name", "", "imported model name (required)")
	s3URI := fs.String("s3-uri", "", "model folder in a bucket, s3://BUCKET/PREFIX/")
	role := fs.String("role-arn", "", "service role for the job (default: the account's BedrockModelImportRole)")
	jobName := fs.String("job-name", "", "job name (default NAME-import-TIMESTAMP)")
	kmsKey := fs.String("kms-key-id", "", "customer key for the model's artifacts (default: the account's default key)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	uri := *s3URI
	switch {
	case uri != "" && fs.NArg() > 0:
		return errors.New("give either --s3-uri or a directory, not both")
	case uri == "" && fs.NArg() == 1:
		abs, err := filepath.Abs(fs.Arg(0))
		if err != nil {
			return err
		}
		uri = (&url.URL{Scheme: "file", Path: abs}).String()
	case uri == "":
		fs.Usage()
		return errors.New("a model folder is required")
	}
	if *name == "" {
		return errors.New("--name is required")
	}
	cfg, err := cf.awsConfig(ctx)
	if err != nil {
		return err
	}
	arn, err := importModel(ctx, cfg, importRequest{name: *name, uri: uri, role: *role, jobName: *jobName, kmsKey: *kmsKey}, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Println(arn)
	return nil
}

type importRequest struct {
	name, uri, role, jobName, kmsKey string
}

// importModel creates an import job, follows it to the end with a progress
// bar on w, and returns the imported model's ARN.
func importModel(ctx context.Context, cfg aws.Config, req importRequest, w io.Writer) (string, error) {
	if req.role == "" {
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", fmt.Errorf("finding the account: %w", err)
		}
		req.role = "arn:aws:iam::" + aws.ToString(id.Account) + ":role/BedrockModelImportRole"
	}
	if req.jobName == "" {
		req.jobName = req.name + "-import-" + time.Now().UTC().Format("20060102-150405")
	}
	client := bedrock.NewFromConfig(cfg)
	in := &bedrock.CreateModelImportJobInput{
		JobName: aws.String(req.jobName), ImportedModelName: aws.String(req.name), RoleArn: aws.String(req.role),
		ModelDataSource: &types.ModelDataSourceMemberS3DataSource{Value: types.S3DataSource{S3Uri: aws.String(req.uri)}},
	}
	if req.kmsKey != "" {
		in.ImportedModelKmsKeyId = aws.String(req.kmsKey)
	}
	out, err := client.CreateModelImportJob(ctx, in)
	if err != nil {
		return "", fmt.Errorf("creating the import job: %w", err)
	}
	jobARN := aws.ToString(out.JobArn)
	fmt.Fprintf(w, "import job %s\n", jobARN)
	bar := progressBar{w: w}
	for {
		job, err := client.GetModelImportJob(ctx, &bedrock.GetModelImportJobInput{JobIdentifier: aws.String(jobARN)})
		if err != nil {
			return "", fmt.Errorf("reading the import job: %w", err)
		}
		switch job.Status {
		case types.ModelImportJobStatusCompleted:
			bar.done()
			return aws.ToString(job.ImportedModelArn), nil
		case types.ModelImportJobStatusFailed:
			bar.done()
			return "", fmt.Errorf("the import failed: %s", aws.ToString(job.FailureMessage))
		}
		if done, total, err := jobProgress(ctx, cfg, jobARN); err == nil {
			bar.show(done, total)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// jobProgress reads strata's progress fields of a job, which the SDK's
// types do not carry, with a request signed like the SDK's.
func jobProgress(ctx context.Context, cfg aws.Config, jobARN string) (done, total int64, err error) {
	u := aws.ToString(cfg.BaseEndpoint) + "/model-import-jobs/" + url.PathEscape(jobARN)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return 0, 0, err
	}
	const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptyHash, "bedrock", cfg.Region, time.Now()); err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var p struct {
		Done  int64 `json:"strataBytesDone"`
		Total int64 `json:"strataBytesTotal"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p); err != nil {
		return 0, 0, err
	}
	return p.Done, p.Total, nil
}

// progressBar draws one updating line.
type progressBar struct {
	w     io.Writer
	drawn bool
}

func (b *progressBar) show(done, total int64) {
	if total <= 0 {
		return
	}
	const width = 30
	n := int(float64(width) * float64(done) / float64(total))
	n = min(max(n, 0), width)
	fmt.Fprintf(b.w, "\r[%s%s] %3d%%  %s / %s", strings.Repeat("#", n), strings.Repeat(".", width-n),
		done*100/total, humanBytes(done), humanBytes(total))
	b.drawn = true
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
