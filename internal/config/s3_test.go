package config

import (
	"strings"
	"testing"
)

func TestS3(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "default-is-embedded", yaml: "", check: func(t *testing.T, c Config) {
			if c.S3 != (S3{}) || c.S3.SigningRegion(c.Region) != "us-east-1" {
				t.Errorf("got %+v", c.S3)
			}
		}},
		{name: "full", yaml: `region: eu-west-1
s3:
  endpoint: http://127.0.0.1:7070
  region: garage
  access_key_id: AKSTRATA
  secret_access_key_env: STRATA_S3_SECRET
  artifacts_bucket: strata-artifacts
  artifacts_prefix: replicas/prod/
`, check: func(t *testing.T, c Config) {
			want := S3{Endpoint: "http://127.0.0.1:7070", Region: "garage", AccessKeyID: "AKSTRATA",
				SecretAccessKeyEnv: "STRATA_S3_SECRET", ArtifactsBucket: "strata-artifacts", ArtifactsPrefix: "replicas/prod/"}
			if c.S3 != want || c.S3.SigningRegion(c.Region) != "garage" {
				t.Errorf("got %+v", c.S3)
			}
		}},
		{name: "sources-only-default-region", yaml: "region: eu-west-1\ns3: {endpoint: 'https://s3.eu-west-1.amazonaws.com/'}\n", check: func(t *testing.T, c Config) {
			if c.S3.SigningRegion(c.Region) != "eu-west-1" || c.S3.ArtifactsBucket != "" {
				t.Errorf("got %+v", c.S3)
			}
		}},
		{name: "unknown-key", yaml: "s3: {endpoint: 'http://h:1', secret_access_key: x}\n", wantErr: "not found"},
		{name: "no-scheme", yaml: "s3: {endpoint: '127.0.0.1:9000'}\n", wantErr: "s3.endpoint"},
		{name: "ftp", yaml: "s3: {endpoint: 'ftp://h'}\n", wantErr: "not http or https"},
		{name: "path", yaml: "s3: {endpoint: 'http://h:1/bucket'}\n", wantErr: "no path"},
		{name: "bucket-without-endpoint", yaml: "s3: {artifacts_bucket: strata}\n", wantErr: "s3.endpoint is empty"},
		{name: "bad-bucket", yaml: "s3: {endpoint: 'http://h:1', artifacts_bucket: Strata_Artifacts}\n", wantErr: "s3.artifacts_bucket"},
		{name: "prefix-without-bucket", yaml: "s3: {endpoint: 'http://h:1', artifacts_prefix: x}\n", wantErr: "needs s3.artifacts_bucket"},
		{name: "bad-prefix", yaml: "s3: {endpoint: 'http://h:1', artifacts_bucket: strata, artifacts_prefix: '../up'}\n", wantErr: "s3.artifacts_prefix"},
		{name: "key-without-secret", yaml: "s3: {endpoint: 'http://h:1', access_key_id: AK}\n", wantErr: "go together"},
		{name: "secret-in-env-name", yaml: "s3: {endpoint: 'http://h:1', access_key_id: AK, secret_access_key_env: 'wJalr/K7MDENG+bPxRfiCY'}\n", wantErr: "not an environment variable name"},
		{name: "bad-region", yaml: "s3: {endpoint: 'http://h:1', region: 'us east'}\n", wantErr: "s3.region"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(strings.NewReader(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestS3EndpointCredentialsNotRepeated(t *testing.T) {
	_, err := Load(strings.NewReader("s3: {endpoint: 'http://AKIDEXAMPLE:wJalrXUtnFEMI@h:9000'}\n"))
	if err == nil || strings.Contains(err.Error(), "wJalrXUtnFEMI") || strings.Contains(err.Error(), "AKIDEXAMPLE") {
		t.Errorf("err = %v; want a refusal that does not repeat the credentials", err)
	}
}

func TestS3Credentials(t *testing.T) {
	env := map[string]string{"STRATA_S3_SECRET": "s3cr3t"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name       string
		s          S3
		id, secret string
		wantErr    string
	}{
		{"default-chain", S3{Endpoint: "http://h:1"}, "", "", ""},
		{"from-env", S3{AccessKeyID: "AK", SecretAccessKeyEnv: "STRATA_S3_SECRET"}, "AK", "s3cr3t", ""},
		{"env-unset", S3{AccessKeyID: "AK", SecretAccessKeyEnv: "NOT_SET"}, "", "", "NOT_SET, which is not set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, secret, err := tc.s.Credentials(getenv)
			if id != tc.id || secret != tc.secret || (err == nil) != (tc.wantErr == "") ||
				err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Credentials = %q, %q, %v", id, secret, err)
			}
		})
	}
}
