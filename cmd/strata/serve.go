package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"strata/internal/arn"
	"strata/internal/config"
	"strata/internal/iam"
	"strata/internal/server"
)

const serveHelp = `usage: strata serve [flags]

Serves the Bedrock control plane and runtime, STS and the OpenAI API on one
listener (HTTP/1.1 and h2c, or TLS). With no flags it runs on embedded
defaults: metadata in SQLite, artifacts, keys and buckets in --data-dir.

On first start in an empty data dir it creates a root account, an admin user
whose access key it writes to DATA_DIR/credentials (AWS shared-credentials
format, mode 0600), and the service role BedrockModelImportRole.

Buckets: s3://BUCKET/PREFIX/ names the folder DATA_DIR/buckets/BUCKET/PREFIX/,
or, with s3.endpoint in the config file, that bucket on the S3-compatible
server; s3.artifacts_bucket moves the artifacts there too, so replicas can
share them (see docs/configuration.md).

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
	if *demo && cfg.S3.Endpoint != "" {
		return fmt.Errorf("--demo writes its model into the embedded bucket folder, which s3.endpoint replaces; upload a model to the S3 server instead")
	}
	log := newLogger(cfg.Log)
	startDebug(log)
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
	// Every long-lived loop runs until ctx ends; the first error of any
	// is serve's.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	run := func(f func(context.Context) error) {
		wg.Go(func() {
			err := f(ctx)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	run(func(ctx context.Context) error {
		defer cancel()
		return server.Serve(ctx, ln, server.Options{Handler: app.Handler(), Logger: log, TLSCert: cfg.TLS.Cert, TLSKey: cfg.TLS.Key,
			StdlibHTTP1: cfg.HTTP1Server == "net/http"})
	})
	run(app.imports.Run)
	run(app.custom.Run)
	if app.events != nil {
		run(app.events.Run)
	}
	run(app.provisioned.Run)
	run(app.trail.Run)
	run(app.maintain)
	if *demo {
		wg.Go(func() {
			if err := runDemo(ctx, endpoint, cfg, app); err != nil && ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "demo: %v\n", err)
			}
		})
	}
	<-ctx.Done()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
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
	fmt.Fprintf(w, "  tuning role: %s\n", arn.IAM(a.boot.Account, "role/"+iam.CustomizationRoleName))
	if cfg.S3.Endpoint != "" {
		fmt.Fprintf(w, "  buckets:     s3:// sources are read from %s\n", cfg.S3.Endpoint)
	}
	if cfg.S3.ArtifactsBucket != "" {
		fmt.Fprintf(w, "  artifacts:   s3://%s/%s at %s\n", cfg.S3.ArtifactsBucket, strings.TrimSuffix(cfg.S3.ArtifactsPrefix, "/"), cfg.S3.Endpoint)
	}
	fmt.Fprintf(w, "Point an AWS SDK or the AWS CLI at it:\n")
	fmt.Fprintf(w, "  export AWS_ENDPOINT_URL=%s AWS_SHARED_CREDENTIALS_FILE=%s AWS_REGION=%s\n", endpoint, abs, cfg.Region)
	fmt.Fprintf(w, "  aws sts get-caller-identity\n")
	if a.buckets != nil {
		fmt.Fprintf(w, "  aws configure set default.s3.addressing_style path; aws s3 mb s3://models   # buckets are DATA_DIR/buckets/*\n")
	}
	fmt.Fprintf(w, "The OpenAI API is at %s/v1 (make a key with: strata keys create --data-dir %s)\n", endpoint, cfg.DataDir)
	fmt.Fprintf(w, "The dashboard is at %s/dashboard (paste such a key)\n", endpoint)
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
