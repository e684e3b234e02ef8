package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/accessbot/accessbot/config"
)

// healthcheckTimeout bounds the whole check: a container runtime runs it every few seconds, and
// a server that takes longer than this to say it is ready is not.
const healthcheckTimeout = 2 * time.Second

func healthcheckCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the server's /readyz answers 200 (a container's HEALTHCHECK)",
		Long: `Healthcheck asks a running accessbot serve whether it is ready: it GETs /readyz on the
config's server.listen address (0.0.0.0 and :: are asked on 127.0.0.1, the same machine), or
on --url, and exits 0 on 200 and 1 otherwise, with one line saying why. It gives up after 2
seconds. It needs neither the database nor any chat platform's secrets, so a container image
without a shell or curl can use it as its HEALTHCHECK.`,
		Example: `  accessbot healthcheck --config /etc/accessbot/accessbot.yaml
  accessbot healthcheck --url http://127.0.0.1:8080/readyz
  HEALTHCHECK CMD ["/accessbot", "healthcheck"]    (in a Dockerfile)`,
		Args: noArgs(""),
	}
	path := e.configFlag(cmd)
	target := cmd.Flags().String("url", "", "the URL to GET instead of /readyz on server.listen")
	cmd.RunE = func(*cobra.Command, []string) error { return cmdHealthcheck(e, *path, *target) }
	return cmd
}

func cmdHealthcheck(e *env, path, target string) error {
	if target == "" {
		cfg, err := loadConfigFor(path, config.SectionServer)
		if err != nil {
			return err
		}
		if target, err = readyzURL(cfg.Server.Listen); err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("server.listen in %s: %v", path, err)}
		}
	} else if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErr("--url %q is not an http or https URL", target)
	}
	ctx, cancel := context.WithTimeout(e.ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("not healthy: %v", err)}
	}
	// No proxy: the server is on this machine (or named by --url), never behind $HTTP_PROXY.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: healthcheckTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("not healthy: %s did not answer within %s", target, healthcheckTimeout)}
		}
		return &exitError{code: 1, msg: fmt.Sprintf("not healthy: %s: %v", target, unwrapURLError(err))}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return &exitError{code: 1, msg: fmt.Sprintf("not ready: %s answered %s", target, resp.Status)}
	}
	fmt.Fprintf(e.stdout, "ready: %s answered %s\n", target, resp.Status)
	return nil
}

// readyzURL is the /readyz URL of a server listening on listen (host:port). A wildcard host
// listens on every interface, this machine's loopback among them.
func readyzURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", listen)
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/readyz"}).String(), nil
}

// unwrapURLError drops the "Get \"URL\": " that *url.Error puts before the cause: the message
// names the URL already.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
