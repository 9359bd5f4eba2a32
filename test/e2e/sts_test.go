package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TestAssumeRole follows the cross-account import guide's troubleshooting
// step with aws-sdk-go-v2: the admin assumes BedrockModelImportRole with
// sts AssumeRole, and the session's ASIA key, secret and token then call
// STS, S3 and Bedrock as the role.
func TestAssumeRole(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	cfg := s.awsConfig(t)
	stsc := sts.NewFromConfig(cfg)
	id, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	acct := aws.ToString(id.Account)
	roleARN := "arn:aws:iam::" + acct + ":role/BedrockModelImportRole"

	// The admin's bucket, which the role may read.
	admin := s.s3Client(t)
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("model-artifacts")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("model-artifacts"), Key: aws.String("mistral/config.json"),
		Body: strings.NewReader(`{"model_type":"mistral"}`)}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	out, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("BedrockCMISession"),
		DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	c := out.Credentials
	if !strings.HasPrefix(aws.ToString(c.AccessKeyId), "ASIA") || aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" {
		t.Fatalf("credentials %+v", c)
	}
	if exp := aws.ToTime(c.Expiration); exp.Before(start.Add(14*time.Minute)) || exp.After(start.Add(16*time.Minute)) {
		t.Errorf("Expiration %v, want about 15 minutes from now", exp)
	}
	sessionARN := "arn:aws:sts::" + acct + ":assumed-role/BedrockModelImportRole/BedrockCMISession"
	if u := out.AssumedRoleUser; aws.ToString(u.Arn) != sessionARN || !strings.HasPrefix(aws.ToString(u.AssumedRoleId), "AROA") ||
		!strings.HasSuffix(aws.ToString(u.AssumedRoleId), ":BedrockCMISession") {
		t.Errorf("AssumedRoleUser %+v", u)
	}
	if strings.Contains(s.logs.String(), aws.ToString(c.SecretAccessKey)) || strings.Contains(s.logs.String(), aws.ToString(c.SessionToken)) {
		t.Fatal("the server logged the session's secret or token")
	}

	// As the session.
	sessCfg := cfg.Copy()
	sessCfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	who, err := sts.NewFromConfig(sessCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity as the session: %v", err)
	}
	if aws.ToString(who.Arn) != sessionARN || aws.ToString(who.Account) != acct || aws.ToString(who.UserId) != aws.ToString(out.AssumedRoleUser.AssumedRoleId) {
		t.Errorf("GetCallerIdentity as the session = %s %s %s", aws.ToString(who.Arn), aws.ToString(who.Account), aws.ToString(who.UserId))
	}
	sessS3 := s3.NewFromConfig(sessCfg, func(o *s3.Options) { o.UsePathStyle = true })
	list, err := sessS3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("model-artifacts"), Prefix: aws.String("mistral/")})
	if err != nil {
		t.Fatalf("ListObjectsV2 as the session: %v", err)
	}
	if len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "mistral/config.json" {
		t.Errorf("ListObjectsV2 as the session = %+v", list.Contents)
	}
	if _, err := sessS3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("model-artifacts"), Key: aws.String("mistral/config.json")}); err != nil {
		t.Errorf("GetObject as the session: %v", err)
	}
	// The role's policies apply, not the admin's: it may not write.
	_, err = sessS3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("model-artifacts"), Key: aws.String("x"), Body: strings.NewReader("x")})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("PutObject as the read-only role: %v, want AccessDenied", err)
	}
	_, err = bedrock.NewFromConfig(sessCfg).ListImportedModels(ctx, &bedrock.ListImportedModelsInput{})
	if apiCode(err) != "AccessDeniedException" {
		t.Errorf("ListImportedModels as the role (no bedrock permissions): %v, want AccessDeniedException", err)
	}

	// The same key with a tampered token, or none, is refused everywhere.
	tok := aws.ToString(c.SessionToken)
	tampered := tok[:len(tok)/2] + string('A'+(tok[len(tok)/2]-'A'+1)%26) + tok[len(tok)/2+1:]
	for _, tc := range []struct{ name, token, stsCode, s3Code string }{
		{"tampered-token", tampered, "InvalidClientTokenId", "InvalidToken"},
		{"no-token", "", "InvalidClientTokenId", "InvalidToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := cfg.Copy()
			bad.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), tc.token)
			_, err := sts.NewFromConfig(bad).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if apiCode(err) != tc.stsCode {
				t.Errorf("GetCallerIdentity: %v, want %s", err, tc.stsCode)
			}
			_, err = s3.NewFromConfig(bad, func(o *s3.Options) { o.UsePathStyle = true }).ListObjectsV2(ctx,
				&s3.ListObjectsV2Input{Bucket: aws.String("model-artifacts")})
			if apiCode(err) != tc.s3Code {
				t.Errorf("ListObjectsV2: %v, want %s", err, tc.s3Code)
			}
			_, err = bedrock.NewFromConfig(bad).ListImportedModels(ctx, &bedrock.ListImportedModelsInput{})
			if apiCode(err) != "UnrecognizedClientException" {
				t.Errorf("ListImportedModels: %v, want UnrecognizedClientException", err)
			}
		})
	}

	// Principals the trust does not admit are denied.
	_, err = sts.NewFromConfig(sessCfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("chained")})
	if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "is not authorized to perform: sts:AssumeRole") {
		t.Errorf("the role's session (no sts:AssumeRole grant) assuming the role: %v, want AccessDenied", err)
	}
	_, err = stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/NoSuchRole"), RoleSessionName: aws.String("x1")})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("assuming an unknown role: %v, want AccessDenied", err)
	}
	// Bad input gets STS's ValidationError.
	for _, in := range []*sts.AssumeRoleInput{
		{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("bad/name")},
		{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ok-name"), DurationSeconds: aws.Int32(600)},
		{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ok-name"), DurationSeconds: aws.Int32(7200)},
		{RoleArn: aws.String("not-an-arn-but-long-enough"), RoleSessionName: aws.String("ok-name")},
		{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("ok-name"), Policy: aws.String(`{"Version":"2012-10-17","Statement":[]}`)},
	} {
		if _, err := stsc.AssumeRole(ctx, in); apiCode(err) != "ValidationError" {
			t.Errorf("AssumeRole(%s, %s): %v, want ValidationError", aws.ToString(in.RoleArn), aws.ToString(in.RoleSessionName), err)
		}
	}
}
