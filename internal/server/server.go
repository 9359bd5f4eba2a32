// Package server runs strata's HTTP listener: HTTP/1.1 and unencrypted
// HTTP/2 (h2c) on one port, optional TLS, request ids, access logs, panic
// recovery and graceful shutdown.
//
// Plain-text HTTP/1.1 is served by h1.Server, which runs each request in its
// connection's goroutine; connections opening with the HTTP/2 preface go on
// to net/http's server, and with TLS net/http's server serves everything.
package server

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"strata/internal/audit"
	"strata/internal/h1"
)

// Options configures Serve.
type Options struct {
	Handler  http.Handler // non-nil
	Logger   *slog.Logger // nil means discard
	TLSCert  string       // PEM files; both empty means plain HTTP + h2c
	TLSKey   string
	Shutdown time.Duration // grace period; 0 means 15s
	// StdlibHTTP1 serves plain-text HTTP/1.1 with net/http's server
	// instead of h1's.
	StdlibHTTP1 bool
}

// Serve serves on ln until ctx is done, then shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	const readHeader, idle = 30 * time.Second, 120 * time.Second
	handler := withRequestID(recoverer(log, o.Handler))
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeader,
		IdleTimeout:       idle,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	srv.Protocols.SetUnencryptedHTTP2(true) // the JS SDK's runtime client speaks h2c
	// What serves the listener: net/http's server with TLS or when asked,
	// h1's otherwise (handing h2c connections on to net/http's).
	var serve func() error
	var shutdown func(context.Context) error
	var closeAll func() error
	switch {
	case o.TLSCert != "" || o.TLSKey != "":
		serve = func() error { return srv.ServeTLS(ln, o.TLSCert, o.TLSKey) }
		shutdown, closeAll = srv.Shutdown, srv.Close
	case o.StdlibHTTP1:
		serve = func() error { return srv.Serve(ln) }
		shutdown, closeAll = srv.Shutdown, srv.Close
	default:
		hs := &h1.Server{Handler: handler, HTTP2: srv, ReadHeaderTimeout: readHeader, IdleTimeout: idle, Logger: log}
		serve = func() error { return hs.Serve(ln) }
		shutdown, closeAll = hs.Shutdown, hs.Close
	}
	errc := make(chan error, 1)
	go func() {
		err := serve()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	grace := o.Shutdown
	if grace == 0 {
		grace = 15 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		closeAll()
		return fmt.Errorf("shutting down: %w", err)
	}
	return <-errc
}

// withRequestID gives every response an x-amzn-RequestId, as AWS does.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set("X-Amzn-Requestid", id)
		ctx := audit.WithRequest(r.Context(), audit.Request{ID: id, SourceIP: audit.SourceIP(r)})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// newRequestID returns a random id in the UUID layout AWS uses. It needs to
// be unique, not secret: math/rand/v2's generator (ChaCha8, seeded by the
// runtime) does without a system call per request.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// recoverer turns a handler panic into a 500 and a log line.
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("handler panic", "path", r.URL.Path, "panic", fmt.Sprint(v))
				w.Header().Set("X-Amzn-ErrorType", "InternalServerException")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				w.Write([]byte(`{"message":"An internal error occurred."}`))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
