package main

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
)

// startDebug serves Go's profiler on STRATA_DEBUG_PPROF (e.g.
// 127.0.0.1:6060) when that variable is set: a debug knob for measuring,
// off by default and never on the main listener.
func startDebug(log *slog.Logger) {
	addr := os.Getenv("STRATA_DEBUG_PPROF")
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		log.Warn("profiler listening", "addr", addr)
		if err := http.ListenAndServe(addr, mux); err != nil {
			log.Error("profiler", "err", err)
		}
	}()
}
