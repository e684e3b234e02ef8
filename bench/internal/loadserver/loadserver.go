// Package loadserver serves a load benchmark's handler (bench/slack, bench/teams) the way
// `accessbot serve` serves its endpoints, so that a baseline handler and accessbot's are
// measured behind the same HTTP server.
package loadserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Serve serves h on a fresh 127.0.0.1 port with serve's HTTP server settings, and returns its
// base URL and a function that shuts it down.
func Serve(h http.Handler) (string, func() error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	stop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		return err
	}
	return "http://" + ln.Addr().String(), stop, nil
}
