// Package config is strata's configuration file: typed, defaulted, strict
// (unknown keys are errors) and validated. Flags given on the command line
// override it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"strata/internal/blob"
	blobs3 "strata/internal/blob/s3"
	"strata/internal/engine/upstream"
	"strata/internal/events"
)

// Config is the whole configuration. Every field documents its default.
type Config struct {
	// Listen is the address to serve on. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// DataDir holds the metadata database, artifacts, keys and buckets.
	// Default "./strata-data".
	DataDir string `yaml:"data_dir"`
	// Region is the AWS region strata answers as, in ARNs and SigV4 scopes.
	// Default "us-east-1".
	Region string `yaml:"region"`
	// MetadataURL selects the metadata store: "" keeps it in SQLite at
	// DATA_DIR/metadata.db; a postgres:// URL shares one PostgreSQL
	// database between replicas. Default "".
	MetadataURL string `yaml:"metadata_url"`
	// Runtime tunes model serving.
	Runtime Runtime `yaml:"runtime"`
	// Router configures POST /query: its tiers (each naming a model),
	// strategy and cascade, in the router's own YAML (see
	// internal/router.Config). Default: three laptop tiers, all on the
	// imported model named "local", priced 1 : 5 : 30, heuristic strategy.
	Router yaml.Node `yaml:"router"`
	// Support tunes POST /query's answers.
	Support Support `yaml:"support"`
	// Vault tunes card tokenization.
	Vault Vault `yaml:"vault"`
	// Engines are remote models: each is served by an upstream engine
	// (see internal/engine/upstream for every field) and invoked by its
	// name or its foundation-model ARN,
	// arn:aws:bedrock:REGION::foundation-model/NAME. Default none.
	Engines []upstream.Spec `yaml:"engines"`
	// TLS serves HTTPS when both files are set. Default: plain HTTP and h2c.
	TLS TLS `yaml:"tls"`
	// HTTP1Server picks what serves plain-text HTTP/1.1: "strata" (its own
	// server, internal/h1, which hands no request between goroutines) or
	// "net/http" (Go's). h2c and TLS are served by net/http either way.
	// Default "strata".
	HTTP1Server string `yaml:"http1_server"`
	// Log sets the log level ("debug", "info", "warn", "error") and format
	// ("text" or "json"). Default info, text.
	Log Log `yaml:"log"`
	// Quotas sets on-demand quotas and provisioned throughput.
	Quotas Quotas `yaml:"quotas"`
	// S3 connects strata to an S3-compatible server (AWS S3, versitygw,
	// MinIO, Ceph RGW, ...) for import sources and, optionally, artifacts.
	// Default: none (embedded mode: both in DATA_DIR).
	S3 S3 `yaml:"s3"`
	// Events sends job state-change events to webhooks. Default: no
	// webhooks, so no events are recorded.
	Events Events `yaml:"events"`
}

// Events sends job state-change events, in Amazon EventBridge's shape
// (see internal/events), to webhooks: at least once, retried with
// exponential backoff, given up after MaxAge.
type Events struct {
	// Webhooks receive the events. Default none.
	Webhooks []Webhook `yaml:"webhooks"`
	// Timeout bounds one delivery attempt. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// FirstRetry is the wait after a first failed attempt; it doubles
	// after each further failure, up to MaxRetry. Defaults 1s and 5m.
	FirstRetry time.Duration `yaml:"first_retry"`
	MaxRetry   time.Duration `yaml:"max_retry"`
	// MaxAge is how long after it was recorded an event is retried; then
	// it is dropped (logged and counted). Default 24h.
	MaxAge time.Duration `yaml:"max_age"`
}

// Webhook is one receiver of events.
type Webhook struct {
	// Name identifies the webhook in logs, metrics and the outbox: 1 to
	// 64 of A-Z a-z 0-9 _ . -, unique. Required.
	Name string `yaml:"name"`
	// URL is where events are POSTed: http:// or https://host[:port]/path,
	// with no user info or fragment. Required.
	URL string `yaml:"url"`
	// SecretEnv names the environment variable holding the HMAC-SHA256
	// key that signs each request (X-Strata-Signature); the secret itself
	// never goes in this file. Required unless URL's host is loopback
	// (127.0.0.0/8, ::1, localhost). Default "".
	SecretEnv string `yaml:"secret_env"`
	// DetailTypes, when set, sends only events of these detail-types
	// ("Model Customization Job State Change", "Model Import Job State
	// Change"). Default: all.
	DetailTypes []string `yaml:"detail_types"`
	// Accounts, when set, sends only events of these 12-digit accounts.
	// Default: all.
	Accounts []string `yaml:"accounts"`
}

// Endpoints returns the webhooks as events endpoints, reading each secret
// with getenv (os.Getenv). It fails when a secret_env variable is unset or
// empty.
func (e Events) Endpoints(getenv func(string) string) ([]events.Endpoint, error) {
	var out []events.Endpoint
	for _, w := range e.Webhooks {
		ep := events.Endpoint{Name: w.Name, URL: w.URL, DetailTypes: w.DetailTypes, Accounts: w.Accounts}
		if w.SecretEnv != "" {
			if ep.Secret = getenv(w.SecretEnv); ep.Secret == "" {
				return nil, fmt.Errorf("config: events.webhooks %s: secret_env names %s, which is not set in the environment", w.Name, w.SecretEnv)
			}
		}
		if err := ep.Validate(); err != nil {
			return nil, fmt.Errorf("config: events.webhooks %s: %v", w.Name, err)
		}
		out = append(out, ep)
	}
	return out, nil
}

// BusOptions returns the events.Options this section sets: endpoints (as
// Endpoints) and the retry settings. The caller adds Store, NodeID,
// Logger and, if it wants, Client, Now and Registerer.
func (e Events) BusOptions(getenv func(string) string) (events.Options, error) {
	eps, err := e.Endpoints(getenv)
	if err != nil {
		return events.Options{}, err
	}
	return events.Options{Endpoints: eps, Timeout: e.Timeout, FirstRetry: e.FirstRetry, MaxRetry: e.MaxRetry, MaxAge: e.MaxAge}, nil
}

func (e Events) validate() error {
	if e.Timeout <= 0 || e.FirstRetry <= 0 || e.MaxRetry <= 0 || e.MaxAge <= 0 {
		return errors.New("config: events.timeout, first_retry, max_retry and max_age must be positive")
	}
	if e.MaxRetry < e.FirstRetry {
		return errors.New("config: events.max_retry must not be less than first_retry")
	}
	seen := map[string]bool{}
	for i, w := range e.Webhooks {
		if seen[w.Name] {
			return fmt.Errorf("config: events.webhooks[%d]: name %q is repeated", i, w.Name)
		}
		seen[w.Name] = true
		ep := events.Endpoint{Name: w.Name, URL: w.URL, DetailTypes: w.DetailTypes, Accounts: w.Accounts}
		if w.SecretEnv != "" {
			if !envNameRE.MatchString(w.SecretEnv) {
				return fmt.Errorf("config: events.webhooks[%d].secret_env %q is not an environment variable name (the secret itself never goes in this file)", i, w.SecretEnv)
			}
			ep.Secret = "from-the-environment" // checked for being set by Endpoints, at startup
		} else if u, err := url.Parse(w.URL); err == nil && u.Hostname() != "" && !events.IsLoopback(u.Hostname()) {
			return fmt.Errorf("config: events.webhooks[%d] (%s): a webhook off loopback needs secret_env, so its events are signed", i, w.Name)
		}
		if err := ep.Validate(); err != nil {
			return fmt.Errorf("config: events.webhooks[%d]: %v", i, err)
		}
		for _, dt := range w.DetailTypes {
			if !slices.Contains(events.DetailTypes(), dt) {
				return fmt.Errorf("config: events.webhooks[%d].detail_types: %q is not one of %q", i, dt, events.DetailTypes())
			}
		}
	}
	return nil
}

// S3 is an S3-compatible server that every replica reaches. With Endpoint
// set, import sources s3://BUCKET/PREFIX/ are read from it; with
// ArtifactsBucket also set, imported model artifacts live there too.
type S3 struct {
	// Endpoint is the server's base URL, http:// or https://host[:port],
	// with no credentials, path, query or fragment; requests use
	// path-style addressing (http://host/BUCKET/KEY). Default "": embedded
	// mode, where s3://BUCKET/PREFIX/ names the folder
	// DATA_DIR/buckets/BUCKET/PREFIX/.
	Endpoint string `yaml:"endpoint"`
	// Region is the region requests are signed for. Default "": the
	// top-level region.
	Region string `yaml:"region"`
	// AccessKeyID is the access key strata uses on the server; the secret
	// comes from the environment variable named by SecretAccessKeyEnv,
	// never from this file. Both empty (the default) use the AWS SDK's
	// default chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the
	// shared config and credentials files (AWS_PROFILE), web identity,
	// then the instance or container role.
	AccessKeyID string `yaml:"access_key_id"`
	// SecretAccessKeyEnv names the environment variable that holds
	// AccessKeyID's secret access key. Set with AccessKeyID. Default "".
	SecretAccessKeyEnv string `yaml:"secret_access_key_env"`
	// ArtifactsBucket, when set, keeps imported model artifacts (encrypted
	// model files and manifests) in this existing bucket on Endpoint
	// instead of DATA_DIR/artifacts, so replicas share them. Needs
	// Endpoint. Default "".
	ArtifactsBucket string `yaml:"artifacts_bucket"`
	// ArtifactsPrefix is prepended to artifact keys in ArtifactsBucket
	// ("strata" stores under "strata/"), so one bucket can hold several
	// installations. Default "".
	ArtifactsPrefix string `yaml:"artifacts_prefix"`
}

// SigningRegion returns Region, or region (the top-level one) when it is
// empty.
func (s S3) SigningRegion(region string) string {
	if s.Region == "" {
		return region
	}
	return s.Region
}

// Credentials returns the static credentials, reading the secret with
// getenv (os.Getenv), or two empty strings for the SDK's default chain.
func (s S3) Credentials(getenv func(string) string) (id, secret string, err error) {
	if s.AccessKeyID == "" {
		return "", "", nil
	}
	secret = getenv(s.SecretAccessKeyEnv)
	if secret == "" {
		return "", "", fmt.Errorf("config: s3.secret_access_key_env names %s, which is not set in the environment", s.SecretAccessKeyEnv)
	}
	return s.AccessKeyID, secret, nil
}

var (
	s3RegionRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (s S3) validate() error {
	if s.Endpoint == "" {
		if s != (S3{}) {
			return errors.New("config: s3.endpoint is empty, so the other s3 settings do nothing; set it or remove them")
		}
		return nil
	}
	if err := blobs3.CheckEndpoint(s.Endpoint); err != nil {
		return fmt.Errorf("config: s3.endpoint: %v", err)
	}
	if s.Region != "" && !s3RegionRE.MatchString(s.Region) {
		return fmt.Errorf("config: s3.region %q is not a region name", s.Region)
	}
	if (s.AccessKeyID == "") != (s.SecretAccessKeyEnv == "") {
		return errors.New("config: s3.access_key_id and s3.secret_access_key_env go together (both empty: the AWS SDK's default credentials)")
	}
	if s.SecretAccessKeyEnv != "" && !envNameRE.MatchString(s.SecretAccessKeyEnv) {
		return fmt.Errorf("config: s3.secret_access_key_env %q is not an environment variable name (the secret itself never goes in this file)", s.SecretAccessKeyEnv)
	}
	if s.ArtifactsBucket == "" {
		if s.ArtifactsPrefix != "" {
			return errors.New("config: s3.artifacts_prefix needs s3.artifacts_bucket")
		}
		return nil
	}
	if err := blobs3.ValidBucket(s.ArtifactsBucket); err != nil {
		return fmt.Errorf("config: s3.artifacts_bucket: %v", err)
	}
	if p := strings.TrimSuffix(s.ArtifactsPrefix, "/"); p != "" {
		if err := blob.ValidKey(p); err != nil {
			return fmt.Errorf("config: s3.artifacts_prefix %q: %v", s.ArtifactsPrefix, err)
		}
	}
	return nil
}

// Quotas sets the on-demand quotas (per account and model, refused with
// ThrottlingException) and how provisioned throughput reserves capacity.
type Quotas struct {
	// RedisURL keeps the quota buckets in Redis (redis://host:port/db), so
	// every replica shares them. Default "": in memory, per process.
	RedisURL string `yaml:"redis_url"`
	// RequestsPerMinute is each account's on-demand requests per minute on
	// each model; 0 means no limit. Default 600.
	RequestsPerMinute int `yaml:"requests_per_minute"`
	// TokensPerMinute is each account's on-demand tokens (input plus
	// output) per minute on each model; 0 means no limit. Default 600000.
	TokensPerMinute int `yaml:"tokens_per_minute"`
	// Overrides set other quotas for some accounts or models; the most
	// specific match wins. Default none. (A pointer keeps Config
	// comparable; read it with OverrideList.)
	Overrides *[]QuotaOverride `yaml:"overrides"`
	// StreamsPerUnit is the concurrent streams one provisioned model unit
	// reserves (besides keeping one copy of its model loaded). Default 4.
	StreamsPerUnit int `yaml:"streams_per_unit"`
	// ProvisionedQueueWait is how long an invocation of a provisioned
	// model whose streams are all busy waits for one before
	// ThrottlingException. Default 2s.
	ProvisionedQueueWait *time.Duration `yaml:"provisioned_queue_wait"`
}

// QuotaOverride sets the quotas of an account, a model, or both.
type QuotaOverride struct {
	// Account is a 12-digit account id; "" or "*" matches every account.
	Account string `yaml:"account"`
	// Model is an imported-model ARN or id; "" or "*" matches every model.
	Model string `yaml:"model"`
	// RequestsPerMinute and TokensPerMinute replace the defaults; unset
	// keeps the default, 0 means no limit.
	RequestsPerMinute *int `yaml:"requests_per_minute"`
	TokensPerMinute   *int `yaml:"tokens_per_minute"`
}

// OverrideList returns the overrides, or nil.
func (q Quotas) OverrideList() []QuotaOverride {
	if q.Overrides == nil {
		return nil
	}
	return *q.Overrides
}

// QueueWait returns the provisioned queue wait with its default.
func (q Quotas) QueueWait() time.Duration {
	if q.ProvisionedQueueWait == nil {
		return 2 * time.Second
	}
	return *q.ProvisionedQueueWait
}

// Runtime tunes model serving with the built-in engine.
type Runtime struct {
	// MemoryBudget is the memory loaded models may take, in bytes; idle
	// models are evicted least recently used first. Default 8 GiB.
	MemoryBudget int64 `yaml:"memory_budget"`
	// ColdStartWait is how long a request for a cold model waits for it to
	// load before it gets ModelNotReadyException (429, retry later).
	// Default 5s; 0s answers ModelNotReadyException at once, as Bedrock
	// does while an imported model warms.
	ColdStartWait *time.Duration `yaml:"cold_start_wait"`
	// MaxCopies bounds the copies of one hot model. Default 1.
	MaxCopies int `yaml:"max_copies"`
	// PlaintextDir holds decrypted model files while a model loads; it
	// must be RAM-backed (tmpfs). Default /dev/shm/strata.
	PlaintextDir string `yaml:"plaintext_dir"`
	// Timeout bounds one generation. Default 5m.
	Timeout time.Duration `yaml:"timeout"`
	// MaxSequences is how many requests one model copy decodes together
	// (continuous batching); more wait. Default 8.
	MaxSequences int `yaml:"max_sequences"`
	// Threads is the built-in engine's kernel goroutines. Default GOMAXPROCS.
	Threads int `yaml:"threads"`
}

// Support tunes the support endpoint.
type Support struct {
	// System is the assistant's system prompt. Default: a short
	// instruction to answer as a payments company's support agent.
	System string `yaml:"system"`
	// MaxTokens bounds an answer. Default 256.
	MaxTokens int `yaml:"max_tokens"`
}

// Vault tunes the card tokenization vault.
type Vault struct {
	// TTL is how long a card token stays valid after its last use.
	// Default 24h.
	TTL time.Duration `yaml:"ttl"`
}

// TLS names a certificate and key in PEM files.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Default is the configuration with nothing set.
var Default = Config{
	Listen:  "127.0.0.1:8080",
	DataDir: "./strata-data",
	Region:  "us-east-1",
	Log:     Log{Level: "info", Format: "text"},

	HTTP1Server: "strata",
	Runtime:     Runtime{MemoryBudget: 8 << 30, MaxCopies: 1, PlaintextDir: "/dev/shm/strata", Timeout: 5 * time.Minute, MaxSequences: 8},
	Quotas:      Quotas{RequestsPerMinute: 600, TokensPerMinute: 600_000, StreamsPerUnit: 4},
	Events: Events{Timeout: events.DefaultTimeout, FirstRetry: events.DefaultFirstRetry,
		MaxRetry: events.DefaultMaxRetry, MaxAge: events.DefaultMaxAge},
}

// ColdWait returns the cold-start wait with its default.
func (r Runtime) ColdWait() time.Duration {
	if r.ColdStartWait == nil {
		return 5 * time.Second
	}
	return *r.ColdStartWait
}

// maxSize bounds a configuration file.
const maxSize = 1 << 20

// Load reads a YAML configuration over the defaults. Unknown keys are errors.
func Load(r io.Reader) (Config, error) {
	cfg := Default
	b, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return cfg, fmt.Errorf("reading config: %w", err)
	}
	if len(b) > maxSize {
		return cfg, errors.New("config: larger than 1 MiB")
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, cfg.Validate()
}

// LoadFile reads the configuration file at path.
func LoadFile(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Default, err
	}
	defer f.Close()
	return Load(f)
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

// Validate checks the configuration.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("config: listen %q: %v", c.Listen, err)
	}
	if c.DataDir == "" {
		return errors.New("config: data_dir is empty")
	}
	if !regionRE.MatchString(c.Region) {
		return fmt.Errorf("config: region %q is not an AWS region name such as us-east-1", c.Region)
	}
	if c.MetadataURL != "" && !strings.HasPrefix(c.MetadataURL, "postgres://") && !strings.HasPrefix(c.MetadataURL, "postgresql://") {
		return fmt.Errorf("config: metadata_url must be a postgres:// URL (or empty for SQLite)")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("config: tls needs both cert and key")
	}
	if c.HTTP1Server != "strata" && c.HTTP1Server != "net/http" {
		return fmt.Errorf("config: http1_server %q is neither strata nor net/http", c.HTTP1Server)
	}
	if c.Runtime.MemoryBudget <= 0 || c.Runtime.MaxCopies <= 0 || c.Runtime.MaxSequences <= 0 || c.Runtime.Timeout <= 0 || c.Runtime.Threads < 0 {
		return errors.New("config: runtime.memory_budget, max_copies, max_sequences and timeout must be positive")
	}
	if c.Runtime.ColdStartWait != nil && *c.Runtime.ColdStartWait < 0 {
		return errors.New("config: runtime.cold_start_wait must not be negative")
	}
	if err := c.Quotas.validate(); err != nil {
		return err
	}
	if err := c.S3.validate(); err != nil {
		return err
	}
	if err := c.Events.validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, e := range c.Engines {
		if e.Name == "" || seen[e.Name] {
			return fmt.Errorf("config: engines[%d]: name is empty or repeated", i)
		}
		seen[e.Name] = true
		if e.Type != "openai" && e.Type != "bedrock" {
			return fmt.Errorf("config: engines[%d] (%s): type must be openai or bedrock", i, e.Name)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level %q must be debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format %q must be text or json", c.Log.Format)
	}
	return nil
}

func (q Quotas) validate() error {
	if q.RedisURL != "" && !strings.HasPrefix(q.RedisURL, "redis://") && !strings.HasPrefix(q.RedisURL, "rediss://") {
		return errors.New("config: quotas.redis_url must be a redis:// or rediss:// URL (or empty for in-memory quotas)")
	}
	if q.RequestsPerMinute < 0 || q.TokensPerMinute < 0 {
		return errors.New("config: quotas.requests_per_minute and tokens_per_minute must not be negative (0 means no limit)")
	}
	if q.StreamsPerUnit <= 0 {
		return errors.New("config: quotas.streams_per_unit must be positive")
	}
	if q.ProvisionedQueueWait != nil && *q.ProvisionedQueueWait < 0 {
		return errors.New("config: quotas.provisioned_queue_wait must not be negative")
	}
	for i, o := range q.OverrideList() {
		if o.Account != "" && o.Account != "*" && !accountRE.MatchString(o.Account) {
			return fmt.Errorf("config: quotas.overrides[%d].account %q is not a 12-digit account id", i, o.Account)
		}
		if o.RequestsPerMinute != nil && *o.RequestsPerMinute < 0 || o.TokensPerMinute != nil && *o.TokensPerMinute < 0 {
			return fmt.Errorf("config: quotas.overrides[%d]: limits must not be negative (0 means no limit)", i)
		}
		if o.RequestsPerMinute == nil && o.TokensPerMinute == nil {
			return fmt.Errorf("config: quotas.overrides[%d] sets no limit", i)
		}
	}
	return nil
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)
