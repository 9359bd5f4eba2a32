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
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
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
	// TLS serves HTTPS when both files are set. Default: plain HTTP and h2c.
	TLS TLS `yaml:"tls"`
	// Log sets the log level ("debug", "info", "warn", "error") and format
	// ("text" or "json"). Default info, text.
	Log Log `yaml:"log"`
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
	Runtime: Runtime{MemoryBudget: 8 << 30, MaxCopies: 1, PlaintextDir: "/dev/shm/strata", Timeout: 5 * time.Minute, MaxSequences: 8},
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
	if c.Runtime.MemoryBudget <= 0 || c.Runtime.MaxCopies <= 0 || c.Runtime.MaxSequences <= 0 || c.Runtime.Timeout <= 0 || c.Runtime.Threads < 0 {
		return errors.New("config: runtime.memory_budget, max_copies, max_sequences and timeout must be positive")
	}
	if c.Runtime.ColdStartWait != nil && *c.Runtime.ColdStartWait < 0 {
		return errors.New("config: runtime.cold_start_wait must not be negative")
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
