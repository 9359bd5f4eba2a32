package upstream

import (
	"strings"
	"testing"
	"time"

	"strata/internal/engine"
	"strata/internal/engine/upstream/upstreamtest"
)

func TestOpen(t *testing.T) {
	osrv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{APIKey: "sk-from-env-000000"})
	defer osrv.Close()
	bsrv := upstreamtest.NewBedrockServer(upstreamtest.BedrockOptions{AccessKeyID: testAccessKey})
	defer bsrv.Close()
	env := map[string]string{"KEY": "sk-from-env-000000", "AK": testAccessKey, "SK": "secret"}
	getenv := func(k string) string { return env[k] }
	zero, one, off := 0, 1, time.Duration(0)
	cases := []struct {
		name    string
		spec    Spec
		wantErr string
		check   func(t *testing.T, e engine.Engine)
	}{
		{name: "openai", spec: Spec{Name: "vllm", Type: "openai", URL: osrv.BaseURL(), Model: "m", APIKeyEnv: "KEY",
			Retries: &one, ProbeInterval: &off, Timeout: time.Minute},
			check: func(t *testing.T, e engine.Engine) {
				o := e.(*OpenAI)
				if o.retries != 1 || o.interval != -1 || o.timeout != time.Minute {
					t.Errorf("retries %d, interval %v, timeout %v", o.retries, o.interval, o.timeout)
				}
			}},
		{name: "openai-defaults", spec: Spec{Name: "vllm", Type: "openai", URL: osrv.BaseURL(), Model: "m", APIKeyEnv: "KEY", Retries: &zero},
			check: func(t *testing.T, e engine.Engine) {
				o := e.(*OpenAI)
				if o.retries != 0 || o.interval != defaultProbeInterval || o.timeout != defaultTimeout {
					t.Errorf("retries %d, interval %v, timeout %v", o.retries, o.interval, o.timeout)
				}
			}},
		{name: "bedrock", spec: Spec{Name: "aws", Type: "bedrock", URL: bsrv.URL, Region: "us-east-1", Model: "m", Family: "llama",
			AccessKeyEnv: "AK", SecretKeyEnv: "SK", ProbeInterval: &off}},
		{name: "missing-secret", spec: Spec{Name: "vllm", Type: "openai", URL: osrv.BaseURL(), Model: "m", APIKeyEnv: "NOPE"},
			wantErr: "NOPE"},
		{name: "bedrock-needs-credentials", spec: Spec{Name: "aws", Type: "bedrock", Region: "us-east-1", Model: "m"},
			wantErr: "access_key_env is required"},
		{name: "unknown-type", spec: Spec{Name: "x", Type: "grpc"}, wantErr: "unknown type"},
		{name: "no-name", spec: Spec{Type: "openai"}, wantErr: "no name"},
		{name: "bad-openai", spec: Spec{Name: "x", Type: "openai", Model: "m"}, wantErr: "engine x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Open(tc.spec, getenv, nil, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if _, ok := e.(HealthChecker); !ok {
				t.Error("engine has no Healthy")
			}
			if tc.check != nil {
				tc.check(t, e)
			}
			req := chatReq(t, 3)
			res, err := e.Generate(t.Context(), req, func(engine.Token) error { return nil })
			if err != nil || res.Text != "Hello, this" {
				t.Errorf("Generate = %q, %v", res.Text, err)
			}
		})
	}
}
