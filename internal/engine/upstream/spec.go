package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"strata/internal/engine"
)

// Spec is one entry of the configuration's `engines:` section (see the
// package comment for the YAML). Secrets are not in it: it names the
// environment variables that hold them.
type Spec struct {
	// Name is how models refer to this engine. Required.
	Name string `yaml:"name" json:"name"`
	// Type is "openai" or "bedrock". Required.
	Type string `yaml:"type" json:"type"`
	// URL is the OpenAI base URL (with /v1) or the Bedrock endpoint
	// ("" means AWS's endpoint for Region). Required for openai.
	URL string `yaml:"url" json:"url"`
	// Region signs Bedrock requests. Required for bedrock.
	Region string `yaml:"region" json:"region"`
	// Model is the upstream's model name, id or ARN. Required.
	Model string `yaml:"model" json:"model"`
	// Family is the InvokeModel body format for bedrock: "mistral"
	// (default) or "llama".
	Family string `yaml:"family" json:"family"`
	// APIKeyEnv names the variable holding the OpenAI bearer key; "" sends
	// none.
	APIKeyEnv string `yaml:"api_key_env" json:"api_key_env"`
	// AccessKeyEnv, SecretKeyEnv and SessionTokenEnv name the variables
	// holding Bedrock's static credentials; the first two are required for
	// bedrock.
	AccessKeyEnv    string `yaml:"access_key_env" json:"access_key_env"`
	SecretKeyEnv    string `yaml:"secret_key_env" json:"secret_key_env"`
	SessionTokenEnv string `yaml:"session_token_env" json:"session_token_env"`
	// Timeout bounds one request over all its attempts. 0 means 5m.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// Retries before the first token. nil means 2; 0 means none.
	Retries *int `yaml:"retries" json:"retries"`
	// ProbeInterval is the health-check period. nil means 10s; 0 disables.
	ProbeInterval *time.Duration `yaml:"probe_interval" json:"probe_interval"`
	// EstimateTokens skips /tokenize (openai) and estimates prompt tokens.
	EstimateTokens bool `yaml:"estimate_tokens" json:"estimate_tokens"`
}

// HealthChecker is what both engines offer beyond engine.Engine, for
// callers that route around a dead upstream.
type HealthChecker interface {
	// Healthy reports whether the last probe or request reached the
	// upstream.
	Healthy() bool
}

var (
	_ HealthChecker = (*OpenAI)(nil)
	_ HealthChecker = (*Bedrock)(nil)
)

// Open builds the engine s describes. getenv looks up the variables s names
// (os.Getenv in main); client may be nil. A named variable that is unset or
// empty is an error, so a missing secret fails at start, not per request.
func Open(s Spec, getenv func(string) string, client *http.Client, log *slog.Logger) (engine.Engine, error) {
	if s.Name == "" {
		return nil, errors.New("upstream: engine spec has no name")
	}
	if log != nil {
		log = log.With("engine", s.Name)
	}
	secret := func(field, env string, required bool) (string, error) {
		if env == "" {
			if required {
				return "", fmt.Errorf("upstream: engine %s: %s is required", s.Name, field)
			}
			return "", nil
		}
		v := getenv(env)
		if v == "" {
			return "", fmt.Errorf("upstream: engine %s: environment variable %s (%s) is not set", s.Name, env, field)
		}
		return v, nil
	}
	retries := 0
	if s.Retries != nil {
		retries = *s.Retries
		if retries == 0 {
			retries = -1
		}
	}
	var probe time.Duration
	if s.ProbeInterval != nil {
		probe = *s.ProbeInterval
		if probe == 0 {
			probe = -1
		}
	}
	switch s.Type {
	case "openai":
		key, err := secret("api_key_env", s.APIKeyEnv, false)
		if err != nil {
			return nil, err
		}
		e, err := NewOpenAI(Config{BaseURL: s.URL, Model: s.Model, APIKey: key, Timeout: s.Timeout, MaxRetries: retries,
			ProbeInterval: probe, Client: client, EstimateTokens: s.EstimateTokens, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("engine %s: %w", s.Name, err)
		}
		return e, nil
	case "bedrock":
		ak, err := secret("access_key_env", s.AccessKeyEnv, true)
		if err != nil {
			return nil, err
		}
		sk, err := secret("secret_key_env", s.SecretKeyEnv, true)
		if err != nil {
			return nil, err
		}
		st, err := secret("session_token_env", s.SessionTokenEnv, false)
		if err != nil {
			return nil, err
		}
		e, err := NewBedrock(BedrockConfig{Endpoint: s.URL, Region: s.Region, Model: s.Model, Family: s.Family,
			AccessKeyID: ak, SecretAccessKey: sk, SessionToken: st, Timeout: s.Timeout, MaxRetries: retries,
			ProbeInterval: probe, Client: client, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("engine %s: %w", s.Name, err)
		}
		return e, nil
	}
	return nil, fmt.Errorf("upstream: engine %s: unknown type %q (want openai or bedrock)", s.Name, s.Type)
}
