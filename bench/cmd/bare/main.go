// Command bare serves the end-to-end benchmark's baseline (package
// gatehouse.dev/bench/bare): the leads list, get and create written by hand.
//
//	bare -addr 127.0.0.1:8090 -db leads.db        # or -db postgres://…
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gatehouse.dev/bench/bare"
	"gatehouse.dev/sqldb"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	dsn := flag.String("db", "bare.db", "SQLite file or postgres:// URL")
	flag.Parse()
	if err := run(*addr, *dsn); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}

func run(addr, dsn string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	db, d, err := sqldb.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, s := range bare.Schema(d) {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	srv := &http.Server{Addr: addr, Handler: bare.New(db, d), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}
