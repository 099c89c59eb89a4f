package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofEnv names the loopback address on which `barbossa run` serves Go's
// profiles (net/http/pprof) when it is set, for docs/PERFORMANCE.md's
// measurements: BARBOSSA_PPROF=127.0.0.1:6060. It is a debugging aid, not
// configuration: nothing is served unless it is set, and only on loopback,
// apart from the portal and without its token.
const pprofEnv = "BARBOSSA_PPROF"

// servePprof starts the profile server on addr and returns at once.
func servePprof(addr string, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", pprofEnv, addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s=%q: profiles are served on a loopback IP address only", pprofEnv, addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", pprofEnv, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Warn("serving Go profiles", "addr", l.Addr().String(), "env", pprofEnv)
	go func() { _ = srv.Serve(l) }()
	return nil
}
