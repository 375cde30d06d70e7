// Command ferretdb runs an embedded FerretDB v1 that speaks the MongoDB wire
// protocol, for local development and tests: on SQLite files by default, or on
// PostgreSQL with --postgresql-url (the cluster launcher, npm run start:cluster).
//
// It logs "ferretdb listening on <addr>" to stderr once it accepts connections
// and exits 0 on SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on (port 0 picks a free port)")
	dataDir := flag.String("data-dir", ".data/ferretdb", "directory for SQLite data files (created if missing)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn, error")
	postgresqlURL := flag.String("postgresql-url", "", "store in this PostgreSQL database (postgres://user:password@host:port/db) instead of SQLite files in --data-dir")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("invalid --log-level %q: %w", *logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// Belt and braces: the embedded package already disables telemetry,
	// and there is no network anyway.
	_ = os.Setenv("FERRETDB_TELEMETRY", "disable")
	_ = os.Setenv("DO_NOT_TRACK", "1")

	config := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:   logger,
	}
	if *postgresqlURL != "" {
		config.Handler = "postgresql"
		config.PostgreSQLURL = *postgresqlURL
	} else {
		dir, err := filepath.Abs(*dataDir)
		if err != nil {
			return fmt.Errorf("resolving --data-dir: %w", err)
		}
		if err = os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating --data-dir: %w", err)
		}
		config.Handler = "sqlite"
		config.SQLiteURL = (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/", OmitHost: true}).String()
	}

	f, err := ferretdb.New(config)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// The listener is bound by New; MongoDBURI gives the real address (useful with port 0).
	u, err := url.Parse(f.MongoDBURI())
	if err != nil {
		stop()
		<-done
		return fmt.Errorf("parsing MongoDB URI: %w", err)
	}
	addr := u.Host

	if err = waitReady(ctx, addr, 10*time.Second); err != nil {
		stop()
		<-done
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "ferretdb listening on %s\n", addr)

	if err = <-done; err != nil {
		return err
	}
	return nil
}

// waitReady polls a TCP dial until addr accepts connections.
func waitReady(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			_ = c.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after %s: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
