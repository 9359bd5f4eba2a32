package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"strata/internal/api/bedrock"
	"strata/internal/api/openai"
	"strata/internal/api/sts"
	"strata/internal/blob/localfs"
	"strata/internal/config"
	"strata/internal/engine"
	"strata/internal/engine/llm"
	"strata/internal/guard"
	"strata/internal/iam"
	"strata/internal/metrics"
	"strata/internal/modelimport"
	"strata/internal/profile"
	"strata/internal/runtime"
	"strata/internal/server"
	"strata/internal/store"
	"strata/internal/store/postgres"
	"strata/internal/store/sqlite"
	"strata/internal/throughput"
)

const serveHelp = `usage: strata serve [flags]

Serves the Bedrock control plane and runtime, STS and the OpenAI API on one
listener (HTTP/1.1 and h2c, or TLS). With no flags it runs on embedded
defaults: metadata in SQLite, artifacts, keys and buckets in --data-dir.

On first start in an empty data dir it creates a root account, an admin user
whose access key it writes to DATA_DIR/credentials (AWS shared-credentials
format, mode 0600), and the service role BedrockModelImportRole.

Buckets: s3://BUCKET/PREFIX/ names the folder DATA_DIR/buckets/BUCKET/PREFIX/.

--container MODEL_DIR serves one plaintext model folder with the model
container contract of the guides (GET /ping, POST /invocations with
{"prompt", "max_tokens"} -> {"response"}), with no other API.

--demo generates a small random Mistral model into s3://strata-demo/tiny-mistral/
and imports it through the API once the server is up, to show the whole flow.

flags:
`

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, serveHelp); fs.PrintDefaults() }
	configPath := fs.String("config", "", "YAML configuration file (strict; see docs/configuration.md)")
	dataDir := fs.String("data-dir", "", "data directory (default "+config.Default.DataDir+")")
	listen := fs.String("listen", "", "address to listen on (default "+config.Default.Listen+"; port 0 picks one)")
	region := fs.String("region", "", "AWS region to answer as (default "+config.Default.Region+")")
	metadataURL := fs.String("metadata-url", "", "postgres:// URL of a shared metadata database (default: SQLite in the data dir)")
	demo := fs.Bool("demo", false, "generate and import a small demo model once serving")
	containerDir := fs.String("container", "", "serve only this model folder with the model-container contract (GET /ping, POST /invocations)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := config.Default
	if *configPath != "" {
		var err error
		if cfg, err = config.LoadFile(*configPath); err != nil {
			return err
		}
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *region != "" {
		cfg.Region = *region
	}
	if *metadataURL != "" {
		cfg.MetadataURL = *metadataURL
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg.Log)
	if *containerDir != "" {
		return runContainer(ctx, cfg, *containerDir, log)
	}
	app, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	scheme := "http"
	if cfg.TLS.Cert != "" {
		scheme = "https"
	}
	endpoint := scheme + "://" + ln.Addr().String()
	printBanner(os.Stdout, endpoint, cfg, app)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Go(func() {
		errc <- server.Serve(ctx, ln, server.Options{Handler: app.Handler(), Logger: log, TLSCert: cfg.TLS.Cert, TLSKey: cfg.TLS.Key})
		cancel()
	})
	wg.Go(func() { errc <- app.imports.Run(ctx) })
	wg.Go(func() { errc <- app.provisioned.Run(ctx) })
	if *demo {
		wg.Go(func() {
			if err := runDemo(ctx, endpoint, cfg, app); err != nil && ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "demo: %v\n", err)
			}
		})
	}
	<-ctx.Done()
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

// app is the wired server: every part built once, here.
type app struct {
	cfg     config.Config
	log     *slog.Logger
	db      store.Store
	blobs   *localfs.Store
	keys    *keyRing
	dir     *iam.Directory
	authz   iam.Authorizer
	boot    iam.Bootstrap
	imports *modelimport.Service
	runtime *runtime.Runtime
	metrics *metrics.Metrics

	provisioned *throughput.Service
	profiles    *profile.Service
	quotas      io.Closer
}

func openApp(ctx context.Context, cfg config.Config, log *slog.Logger) (*app, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	for _, d := range []string{"buckets", "artifacts"} {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, d), 0o700); err != nil {
			return nil, err
		}
	}
	a := &app{cfg: cfg, log: log, authz: &iam.Evaluator{}}
	var err error
	if cfg.MetadataURL != "" {
		a.db, err = postgres.Open(ctx, cfg.MetadataURL)
	} else {
		a.db, err = sqlite.Open(ctx, filepath.Join(cfg.DataDir, "metadata.db"))
	}
	if err != nil {
		return nil, err
	}
	if a.blobs, err = localfs.New(filepath.Join(cfg.DataDir, "artifacts")); err != nil {
		a.Close()
		return nil, err
	}
	// Embedded mode has one process per data dir, so every temporary file
	// is from a process that died mid-write.
	if _, err := a.blobs.CleanTemp(0); err != nil {
		a.Close()
		return nil, err
	}
	if a.keys, err = openKeyRing(ctx, cfg.DataDir, cfg.Region, log.With("component", "kms")); err != nil {
		a.Close()
		return nil, err
	}
	sealer, err := a.keys.systemSealer(ctx)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.dir = iam.NewDirectory(a.db, sealer)
	credPath := filepath.Join(cfg.DataDir, "credentials")
	a.boot, err = a.dir.Bootstrap(ctx, func(b iam.Bootstrap) error {
		return writeCredentials(credPath, b.AccessKeyID, b.SecretAccessKey, cfg.Region)
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	nodeID, err := readOrCreate(filepath.Join(cfg.DataDir, "node-id"))
	if err != nil {
		a.Close()
		return nil, err
	}
	a.imports = modelimport.New(modelimport.Options{
		Store: a.db, Artifacts: a.blobs, Keys: a.keys, Authorizer: a.authz, Directory: a.dir,
		BucketsDir: filepath.Join(cfg.DataDir, "buckets"), BucketOwner: a.boot.Account,
		Region: cfg.Region, NodeID: nodeID, Logger: log.With("component", "modelimport"),
	})
	a.metrics = metrics.New()
	g := guard.New(guard.Options{Logger: log.With("component", "guard")})
	rc := cfg.Runtime
	residency := runtime.NewResidency(runtime.ResidencyOptions{
		Budget: rc.MemoryBudget, ColdWait: rc.ColdWait(), MaxCopies: rc.MaxCopies,
		CopyAfter: rc.MaxSequences, Logger: log.With("component", "residency"),
		OnLoad: a.metrics.ModelLoaded, OnEvict: a.metrics.ModelEvicted,
	})
	a.metrics.Residency(residency)
	a.imports.OnModelDeleted(residency.Evict)
	imported := &runtime.ImportedResolver{
		Models: a.imports, Blobs: a.blobs, Keys: a.keys, PlainDir: filepath.Join(rc.PlaintextDir, nodeID),
		Open: func(dir string) (engine.Engine, error) {
			return llm.Open(dir, llm.LoadOptions{Threads: rc.Threads}, llm.Options{MaxSeqs: rc.MaxSequences, Logger: log.With("component", "llm")})
		},
	}
	a.provisioned = throughput.New(throughput.Options{Store: a.db, Models: a.imports, Targets: imported, Authorizer: a.authz,
		Warmer: &throughput.ResidencyWarmer{Targets: imported, Residency: residency}, Region: cfg.Region,
		StreamsPerUnit: cfg.Quotas.StreamsPerUnit, QueueWait: cfg.Quotas.QueueWait(), Logger: log.With("component", "throughput")})
	a.profiles = profile.New(profile.Options{Store: a.db, Models: a.imports, Targets: imported, Authorizer: a.authz,
		Region: cfg.Region, Logger: log.With("component", "profile")})
	quotas, closer, err := throughput.OpenQuotas(ctx, cfg.Quotas, log.With("component", "quotas"))
	if err != nil {
		a.Close()
		return nil, err
	}
	a.quotas = closer
	a.runtime = runtime.New(runtime.Options{
		Resolver:   runtime.Chain{a.provisioned, a.profiles, imported},
		Admitter:   &throughput.Admitter{Quotas: quotas, Provisioned: a.provisioned},
		Authorizer: a.authz, Guard: g, Residency: residency, Timeout: rc.Timeout, Observer: a.metrics,
		Logger: log.With("component", "runtime"),
	})
	return a, nil
}

// Handler returns the HTTP handler of every API.
func (a *app) Handler() http.Handler {
	mux := http.NewServeMux()
	awsAuth := server.NewSigV4(a.dir, "bedrock", "sts")
	(&bedrock.Handler{Authn: awsAuth, Imports: a.imports, Runtime: a.runtime, Provisioned: a.provisioned, Profiles: a.profiles,
		Logger: a.log.With("component", "bedrock")}).Register(mux)
	mux.Handle("POST /{$}", &sts.Handler{Authn: awsAuth, Logger: a.log.With("component", "sts")})
	bearer := server.NewBearer(a.dir.LookupAPIKey, awsAuth) // API keys, else SigV4
	(&openai.Handler{Authn: bearer, Runtime: a.runtime, Models: a.imports, Keys: a.dir, Authorizer: a.authz, Forget: bearer.Forget, Logger: a.log.With("component", "openai")}).Register(mux)
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"Healthy"}`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		bedrock.WriteError(w, a.log, unknownOperation(r))
	})
	return mux
}

func (a *app) Close() {
	if a.provisioned != nil {
		a.provisioned.Close()
	}
	if a.quotas != nil {
		a.quotas.Close()
	}
	if a.runtime != nil {
		a.runtime.Residency().Close()
	}
	if a.db != nil {
		a.db.Close()
	}
	if a.blobs != nil {
		a.blobs.Close()
	}
}

func printBanner(w *os.File, endpoint string, cfg config.Config, a *app) {
	abs, _ := filepath.Abs(filepath.Join(cfg.DataDir, "credentials"))
	fmt.Fprintf(w, "strata is serving on %s\n", endpoint)
	fmt.Fprintf(w, "  account:     %s (region %s)\n", a.boot.Account, cfg.Region)
	if a.boot.Created {
		fmt.Fprintf(w, "  credentials: created %s (admin user, profile [default])\n", abs)
	} else {
		fmt.Fprintf(w, "  credentials: %s\n", abs)
	}
	fmt.Fprintf(w, "  import role: %s\n", a.boot.RoleARN)
	fmt.Fprintf(w, "Point an AWS SDK or the AWS CLI at it:\n")
	fmt.Fprintf(w, "  export AWS_ENDPOINT_URL=%s AWS_SHARED_CREDENTIALS_FILE=%s AWS_REGION=%s\n", endpoint, abs, cfg.Region)
	fmt.Fprintf(w, "  aws sts get-caller-identity\n")
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(strings.ToUpper(c.Level)))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

var errUnknownOperation = errors.New("unknown operation")
