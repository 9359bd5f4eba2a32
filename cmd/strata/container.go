package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"strata/internal/api/container"
	"strata/internal/config"
	"strata/internal/engine/llm"
	"strata/internal/guard"
	"strata/internal/iam"
	"strata/internal/metrics"
	"strata/internal/runtime"
	"strata/internal/server"
)

// runContainer serves one model folder with the model-container contract
// (GET /ping, POST /invocations), as a custom endpoint for a top tier.
func runContainer(ctx context.Context, cfg config.Config, dir string, log *slog.Logger) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	rc := cfg.Runtime
	eng, err := llm.Open(abs, llm.LoadOptions{Threads: rc.Threads}, llm.Options{MaxSeqs: rc.MaxSequences, Logger: log.With("component", "llm")})
	if err != nil {
		return fmt.Errorf("loading %s: %w", abs, err)
	}
	defer eng.Close()
	modelARN := "arn:aws:bedrock:" + cfg.Region + ":" + systemAccount + ":imported-model/container"
	caller := &iam.Principal{
		Account: systemAccount, Kind: iam.KindUser, Name: "container", ARN: "arn:aws:iam::" + systemAccount + ":user/container",
		Policies: []*iam.Policy{iam.MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"`+modelARN+`"}]}`, false)},
	}
	target := &runtime.Target{ARN: modelARN, ModelARN: modelARN, Family: "mistral", Account: systemAccount, Engine: eng}
	m := metrics.New()
	rt := runtime.New(runtime.Options{
		Resolver: runtime.Static{Target: target}, Authorizer: &iam.Evaluator{},
		Guard:     guard.New(guard.Options{Logger: log.With("component", "guard")}),
		Residency: runtime.NewResidency(runtime.ResidencyOptions{}), Observer: m,
		Timeout: rc.Timeout, Logger: log.With("component", "runtime"),
	})
	mux := http.NewServeMux()
	(&container.Handler{Runtime: rt, Target: target, Principal: caller, Logger: log}).Register(mux)
	mux.Handle("GET /metrics", m.Handler())
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	fmt.Fprintf(os.Stdout, "strata is serving on http://%s\n  model container for %s: GET /ping, POST /invocations\n", ln.Addr(), abs)
	return server.Serve(ctx, ln, server.Options{Handler: mux, Logger: log, TLSCert: cfg.TLS.Cert, TLSKey: cfg.TLS.Key,
		StdlibHTTP1: cfg.HTTP1Server == "net/http"})
}
