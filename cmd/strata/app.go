package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"go.yaml.in/yaml/v3"

	"strata/internal/api/bedrock"
	"strata/internal/api/detokenize"
	"strata/internal/api/openai"
	s3api "strata/internal/api/s3"
	"strata/internal/api/sts"
	"strata/internal/api/support"
	"strata/internal/apierr"
	"strata/internal/audit"
	"strata/internal/auth"
	"strata/internal/blob"
	"strata/internal/blob/localfs"
	blobs3 "strata/internal/blob/s3"
	"strata/internal/bucket"
	"strata/internal/config"
	"strata/internal/customize"
	"strata/internal/dashboard"
	"strata/internal/engine"
	"strata/internal/engine/llm"
	"strata/internal/engine/upstream"
	"strata/internal/events"
	"strata/internal/guard"
	"strata/internal/guard/vault"
	"strata/internal/guardrails"
	"strata/internal/iam"
	"strata/internal/metrics"
	"strata/internal/modelimport"
	"strata/internal/profile"
	"strata/internal/router"
	"strata/internal/runtime"
	"strata/internal/server"
	"strata/internal/store"
	"strata/internal/store/postgres"
	"strata/internal/store/sqlite"
	"strata/internal/throughput"
)

// app is the wired server: every part built once, here.
type app struct {
	cfg     config.Config
	log     *slog.Logger
	db      store.Store
	blobs   blob.Store    // localfs in DATA_DIR, or an S3 bucket
	buckets *bucket.Store // embedded buckets served over S3; nil with s3.endpoint
	keys    *keyRing
	dir     *iam.Directory
	authz   iam.Authorizer
	boot    iam.Bootstrap
	imports *modelimport.Service
	custom  *customize.Service
	events  *events.Bus // nil without webhooks
	runtime *runtime.Runtime
	metrics *metrics.Metrics

	provisioned *throughput.Service
	profiles    *profile.Service
	guardrails  *guardrails.Service
	quotas      io.Closer
	trail       *audit.Trail
	vault       *vault.Vault
	router      *router.Router
	routerCfg   router.Config
	engines     []engine.Engine // remote engines, closed on exit
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
	s3c, err := openS3(ctx, cfg)
	if err != nil {
		a.Close()
		return nil, err
	}
	if a.blobs, err = openArtifacts(ctx, cfg, s3c, log.With("component", "artifacts")); err != nil {
		a.Close()
		return nil, err
	}
	var sources modelimport.S3Client // nil: embedded bucket folders
	if s3c != nil {
		sources = s3c
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
	importAuthz := a.authz
	if s3c == nil {
		if a.buckets, err = bucket.Open(cfg.DataDir, a.boot.Account); err != nil {
			a.Close()
			return nil, err
		}
		// Bucket policies apply to the import job's reads too.
		importAuthz = s3api.BucketPolicies(a.authz, a.buckets)
	}
	a.metrics = metrics.New()
	// Job state changes go to webhooks through an outbox in the metadata
	// store, written in the job's own transactions.
	var jobEvents interface {
		customize.Events
		modelimport.Events
	}
	if len(cfg.Events.Webhooks) > 0 {
		bo, err := cfg.Events.BusOptions(os.Getenv)
		if err != nil {
			a.Close()
			return nil, err
		}
		bo.Store, bo.NodeID, bo.Logger, bo.Registerer = a.db, nodeID, log.With("component", "events"), a.metrics.Registry
		if a.events, err = events.New(bo); err != nil {
			a.Close()
			return nil, err
		}
		jobEvents = a.events
	}
	a.imports = modelimport.New(modelimport.Options{
		Store: a.db, Artifacts: a.blobs, Keys: a.keys, Authorizer: importAuthz, Directory: a.dir,
		BucketsDir: filepath.Join(cfg.DataDir, "buckets"), S3: sources, BucketOwner: a.boot.Account,
		Region: cfg.Region, NodeID: nodeID, Events: jobEvents, Logger: log.With("component", "modelimport"),
	})
	if a.trail, err = audit.Open(ctx, a.db, nodeID, log.With("component", "audit")); err != nil {
		a.Close()
		return nil, err
	}
	if a.vault, err = openVault(ctx, a, cfg); err != nil {
		a.Close()
		return nil, err
	}
	g := guard.New(guard.Options{Tokenizer: a.vault, Logger: log.With("component", "guard")})
	rc := cfg.Runtime
	residency := runtime.NewResidency(runtime.ResidencyOptions{
		Budget: rc.MemoryBudget, ColdWait: rc.ColdWait(), MaxCopies: rc.MaxCopies,
		CopyAfter: rc.MaxSequences, Logger: log.With("component", "residency"),
		OnLoad: a.metrics.ModelLoaded, OnEvict: a.metrics.ModelEvicted,
	})
	a.metrics.Residency(residency)
	a.imports.OnModelDeleted(func(arn string) {
		residency.Evict(arn)
		if a.runtime != nil {
			a.runtime.Forget()
		}
	})
	openLLM := func(dir string) (engine.Engine, error) {
		return llm.Open(dir, llm.LoadOptions{Threads: rc.Threads}, llm.Options{MaxSeqs: rc.MaxSequences, Logger: log.With("component", "llm")})
	}
	plainDir := filepath.Join(rc.PlaintextDir, nodeID)
	// Decrypted files live there only while a model loads or a
	// customization job runs; a process killed meanwhile leaves them, so
	// they go now, before this node uses the folder again.
	if left, _ := os.ReadDir(plainDir); len(left) > 0 {
		log.Warn("removing plaintext model files left by an interrupted run", "dir", plainDir, "entries", len(left))
		if err := os.RemoveAll(plainDir); err != nil {
			a.Close()
			return nil, fmt.Errorf("removing leftover plaintext in %s: %w", plainDir, err)
		}
	}
	imported := &runtime.ImportedResolver{Models: a.imports, Blobs: a.blobs, Keys: a.keys, PlainDir: plainDir, Open: openLLM}
	// Custom models are served like imported ones, but only through a
	// deployment or provisioned throughput.
	custom := &runtime.ImportedResolver{Blobs: a.blobs, Keys: a.keys, PlainDir: plainDir, Open: openLLM} // Models below
	var buckets customize.Buckets
	if s3c != nil {
		buckets = customize.S3Buckets(s3c)
	} else {
		buckets = customize.EmbeddedBuckets(a.buckets)
	}
	a.custom = customize.New(customize.Options{
		Store: a.db, Artifacts: a.blobs, Keys: a.keys, Authorizer: importAuthz, Directory: a.dir, Buckets: buckets,
		BucketOwner: a.boot.Account, Base: a.imports, Targets: custom,
		PlainDir: filepath.Join(plainDir, "customize"), Region: cfg.Region, NodeID: nodeID, Events: jobEvents,
		Audit: a.trail, Logger: log.With("component", "customize"),
	})
	custom.Models = a.custom
	a.custom.OnModelDeleted(func(arn string) {
		residency.Evict(arn)
		if a.runtime != nil {
			a.runtime.Forget()
		}
	})
	models := modelLookups{a.imports, a.custom}
	provisionable := &runtime.ImportedResolver{Models: models, Blobs: a.blobs, Keys: a.keys, PlainDir: plainDir, Open: openLLM}
	a.provisioned = throughput.New(throughput.Options{Store: a.db, Models: models, Targets: provisionable, Authorizer: a.authz,
		Warmer: &throughput.ResidencyWarmer{Targets: provisionable, Residency: residency}, Region: cfg.Region,
		StreamsPerUnit: cfg.Quotas.StreamsPerUnit, QueueWait: cfg.Quotas.QueueWait(), Logger: log.With("component", "throughput")})
	a.profiles = profile.New(profile.Options{Store: a.db, Models: a.imports, Targets: imported, Authorizer: a.authz,
		Region: cfg.Region, Logger: log.With("component", "profile")})
	a.guardrails = guardrails.New(guardrails.Options{Store: a.db, Authorizer: a.authz, Region: cfg.Region,
		Logger: log.With("component", "guardrails")})
	quotas, closer, err := throughput.OpenQuotas(ctx, cfg.Quotas, log.With("component", "quotas"))
	if err != nil {
		a.Close()
		return nil, err
	}
	a.quotas = closer
	a.metrics.Gauge("strata_provisioned_utilization", "Streams in use over streams reserved, per provisioned model.",
		[]string{"provisioned_model", "model"}, func() []metrics.Sample {
			var out []metrics.Sample
			for _, u := range a.provisioned.Utilization() {
				out = append(out, metrics.Sample{Labels: []string{u.ARN, u.ModelARN}, Value: float64(u.InFlight) / float64(max(u.Reserved, 1))})
			}
			return out
		})
	remote := &runtime.RemoteResolver{Region: cfg.Region, Models: map[string]*runtime.Remote{}}
	for _, spec := range cfg.Engines {
		eng, err := upstream.Open(spec, os.Getenv, nil, log.With("component", "upstream"))
		if err != nil {
			a.Close()
			return nil, err
		}
		a.engines = append(a.engines, eng)
		family := spec.Family
		if family == "" {
			family = "mistral"
		}
		remote.Models[spec.Name] = &runtime.Remote{Name: spec.Name, Family: family, Engine: eng}
	}
	if a.routerCfg, a.router, err = openRouter(cfg); err != nil {
		a.Close()
		return nil, err
	}
	a.runtime = runtime.New(runtime.Options{
		Resolver:   runtime.Chain{a.provisioned, a.profiles, a.custom, imported, remote},
		Admitter:   &throughput.Admitter{Quotas: quotas, Provisioned: a.provisioned},
		Authorizer: a.authz, Guard: g, Residency: residency, Timeout: rc.Timeout, Observer: runtime.Observers{a.metrics, a.trail},
		Logger: log.With("component", "runtime"),
	})
	return a, nil
}

// Handler returns the HTTP handler of every API.
func (a *app) Handler() http.Handler {
	mux := http.NewServeMux()
	awsAuth := server.NewSigV4(a.dir, "bedrock", "sts")
	(&bedrock.Handler{Authn: awsAuth, Imports: a.imports, Customize: a.custom, Runtime: a.runtime, Provisioned: a.provisioned, Profiles: a.profiles, Guardrails: a.guardrails,
		Taggers: map[string]bedrock.Tagger{"model-customization-job": a.custom, "custom-model": a.custom, "custom-model-deployment": a.custom},
		Audit:   a.trail, Logger: a.log.With("component", "bedrock")}).Register(mux)
	mux.Handle("POST /{$}", &sts.Handler{Authn: awsAuth, Roles: a.dir, Authorizer: a.authz, Audit: a.trail, Logger: a.log.With("component", "sts")})
	bearer := server.NewBearer(a.dir.LookupAPIKey, awsAuth) // API keys, else SigV4
	(&openai.Handler{Authn: bearer, Runtime: a.runtime, Models: a.imports, Keys: a.dir, Authorizer: a.authz, Forget: bearer.Forget, Logger: a.log.With("component", "openai")}).Register(mux)
	support.New(support.Options{Authn: bearer, Router: a.router, Runtime: a.runtime, Cascade: a.routerCfg.Cascade,
		System: a.cfg.Support.System, MaxTokens: a.cfg.Support.MaxTokens, Recorder: a.trail, Observe: a.metrics.Query,
		Logger: a.log.With("component", "support")}).Register(mux)
	(&detokenize.Handler{Authn: bearer, Vault: a.vault, Recorder: a.trail, Logger: a.log.With("component", "detokenize")}).Register(mux)
	(&dashboard.Handler{Authn: bearer, Authorizer: a.authz, Gatherer: a.metrics.Registry,
		Logger: a.log.With("component", "dashboard")}).Register(mux)
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"Healthy"}`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		bedrock.WriteError(w, a.log, unknownOperation(r))
	})
	if a.buckets == nil {
		return mux
	}
	// S3 requests are told apart by their signature's service, not by path.
	// The S3 handler looks keys up itself, so its context must carry the
	// session token for session (ASIA) keys to be checked and accepted.
	return s3api.Wrap(auth.SecurityTokenContext(s3api.New(s3api.Options{Store: a.buckets, Keys: awsAuth, Authorizer: a.authz, Region: a.cfg.Region,
		Audit: a.trail, Logger: a.log.With("component", "s3")})), mux)
}

func (a *app) Close() {
	for _, e := range a.engines {
		e.Close()
	}
	if a.trail != nil {
		a.trail.Flush(context.Background())
	}
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
	if c, ok := a.blobs.(io.Closer); ok {
		c.Close()
	}
}

// openS3 returns a client for the configured S3-compatible server, or nil
// in embedded mode.
func openS3(ctx context.Context, cfg config.Config) (*awss3.Client, error) {
	if cfg.S3.Endpoint == "" {
		return nil, nil
	}
	id, secret, err := cfg.S3.Credentials(os.Getenv)
	if err != nil {
		return nil, err
	}
	return blobs3.NewClient(ctx, blobs3.ClientOptions{Endpoint: cfg.S3.Endpoint, Region: cfg.S3.SigningRegion(cfg.Region),
		AccessKeyID: id, SecretAccessKey: secret})
}

// openArtifacts opens the artifact store: the configured S3 bucket, shared
// by every replica, or DATA_DIR/artifacts.
func openArtifacts(ctx context.Context, cfg config.Config, s3c *awss3.Client, log *slog.Logger) (blob.Store, error) {
	if cfg.S3.ArtifactsBucket != "" {
		st, err := blobs3.New(s3c, blobs3.Options{Bucket: cfg.S3.ArtifactsBucket, Prefix: cfg.S3.ArtifactsPrefix, Logger: log})
		if err != nil {
			return nil, err
		}
		if err := st.Check(ctx); err != nil {
			return nil, fmt.Errorf("the artifact store at %s: %w", cfg.S3.Endpoint, err)
		}
		return st, nil
	}
	st, err := localfs.New(filepath.Join(cfg.DataDir, "artifacts"))
	if err != nil {
		return nil, err
	}
	// Embedded mode has one process per data dir, so every temporary file
	// is from a process that died mid-write.
	if _, err := st.CleanTemp(0); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// openVault opens the card-token vault: entries in the metadata store,
// card numbers sealed under the system's vault key, looked up by an HMAC
// whose key is made once and kept sealed in the store.
func openVault(ctx context.Context, a *app, cfg config.Config) (*vault.Vault, error) {
	key, err := a.keys.DefaultKey(ctx, systemAccount, "vault")
	if err != nil {
		return nil, fmt.Errorf("opening the vault key: %w", err)
	}
	sealer, err := a.keys.Sealer(ctx, key.ARN)
	if err != nil {
		return nil, err
	}
	index, err := vaultIndexKey(ctx, a.db, sealer)
	if err != nil {
		return nil, err
	}
	authz, region := a.authz, cfg.Region
	return vault.New(vault.Options{
		Store: vault.NewRecordStore(a.db), Sealer: sealer, IndexKey: index, TTL: cfg.Vault.TTL,
		Authorize: func(ctx context.Context) error {
			p := iam.PrincipalFrom(ctx)
			if p == nil {
				return errors.New("no caller")
			}
			return authz.Authorize(ctx, iam.Request{Principal: p, Action: "strata:Detokenize",
				Resource: "arn:aws:strata:" + region + ":" + p.Account + ":vault/cards"})
		},
		Logger: a.log.With("component", "vault"),
	})
}

// vaultIndexKey returns the vault's HMAC key, making it on first use. It is
// stored sealed, never in the clear.
func vaultIndexKey(ctx context.Context, st store.Store, sealer iam.Sealer) ([]byte, error) {
	k := store.Key{Kind: "vault-index-key", ID: "default"}
	for range 2 {
		r, err := st.Get(ctx, k)
		if err == nil {
			return sealer.Open(ctx, r.Data, []byte("vault-index-key"))
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		key := make([]byte, 32)
		rand.Read(key)
		sealed, err := sealer.Seal(ctx, key, []byte("vault-index-key"))
		if err != nil {
			return nil, err
		}
		if _, err := st.Create(ctx, store.Record{Kind: k.Kind, ID: k.ID, Data: sealed}); err == nil {
			return key, nil
		} else if !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		// Another replica made it first: read theirs.
	}
	return nil, errors.New("the vault index key could not be read")
}

// openRouter builds the /query router from the configuration's router
// section (the router's defaults when it is absent).
func openRouter(cfg config.Config) (router.Config, *router.Router, error) {
	rc := router.DefaultConfig()
	if cfg.Router.Kind != 0 {
		b, err := yaml.Marshal(&cfg.Router)
		if err != nil {
			return rc, nil, err
		}
		if rc, err = router.ParseConfig(b); err != nil {
			return rc, nil, fmt.Errorf("config: router: %w", err)
		}
	}
	var model *router.Model
	if rc.Strategy == "learned" {
		var err error
		if model, err = router.LoadModel(rc.ModelFile); err != nil {
			return rc, nil, fmt.Errorf("config: router: %w", err)
		}
	}
	r, err := router.New(rc, model)
	if err != nil {
		return rc, nil, fmt.Errorf("config: router: %w", err)
	}
	return rc, r, nil
}

// maintain runs periodic housekeeping until ctx is done: expired vault
// entries, keys whose deletion window has passed and STS sessions older
// than any session lasts are removed.
func (a *app) maintain(ctx context.Context) error {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if n, err := a.vault.Purge(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("purging expired card tokens", "err", err)
		} else if n > 0 {
			a.log.Info("purged expired card tokens", "count", n)
		}
		if _, err := a.keys.PurgeDeleted(ctx, time.Now()); err != nil && ctx.Err() == nil {
			a.log.Warn("purging deleted keys", "err", err)
		}
		if n, err := a.dir.PurgeSessions(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("purging old STS sessions", "err", err)
		} else if n > 0 {
			a.log.Info("purged old STS sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// modelLookups finds a model among imported and custom models, for
// provisioned throughput, which serves both.
type modelLookups []interface {
	LookupModel(ctx context.Context, account, ident string) (*modelimport.Model, error)
}

func (ls modelLookups) LookupModel(ctx context.Context, account, ident string) (*modelimport.Model, error) {
	var err error
	for _, l := range ls {
		var m *modelimport.Model
		if m, err = l.LookupModel(ctx, account, ident); err == nil {
			return m, nil
		}
		if e, ok := errors.AsType[*apierr.Error](err); !ok || e.Kind != apierr.NotFound {
			return nil, err
		}
	}
	return nil, err
}
