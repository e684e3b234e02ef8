package kubernetes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/internal/ratelimit"

	"github.com/accessbot/accessbot/internal/backoff"
)

// fieldManager is the name server-side apply records as the owner of the fields accessbot sets.
const fieldManager = "accessbot"

// maxAnswer bounds what the adapter reads of one answer: a list of bindings in a namespace is
// kilobytes, and nothing it asks for comes near this.
const maxAnswer = 8 << 20

// maxRetries is how often one call is tried again when the API server says to wait (429, or a
// 5xx with Retry-After), before the adapter gives the scheduler a retryable error.
const maxRetries = 5

// maxRetryAfter bounds one server-requested wait, so a confused server cannot stall a grant.
const maxRetryAfter = 10 * time.Second

// client talks to one API server over net/http: the few REST calls the adapter makes, its own
// types for the five objects it touches (types.go), credentials from a kubeconfig (a token, a
// token file, a client certificate or an exec credential plugin) or the pod's service account.
// It does not link client-go: client-go and apimachinery cost every accessbot process about
// 4.6 MB of resident memory, whether or not a kubernetes resource is configured
// (BENCHMARKS.md, "4. Memory"), for a client that makes four kinds of request.
type client struct {
	base  *url.URL
	http  *http.Client
	creds credentials
	// host and caData are what token mode writes into a person's kubeconfig by default.
	host   string
	caData []byte

	limiter ratelimit.Limiter
	rate    ratelimit.Rate
	// wait sleeps for d or until ctx ends; tests replace it.
	wait func(ctx context.Context, d time.Duration) error
}

// newClient builds the client for cc. It reads files (CA, certificates) but does not contact
// the cluster.
func newClient(cc *clusterConfig, c *Config) (*client, error) {
	base, err := url.Parse(cc.server)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("cluster server %q is not an http(s) URL", cc.server)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cc.tlsServerName}
	if len(cc.caData) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cc.caData) {
			return nil, errors.New("the cluster's certificate-authority holds no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	if cc.creds != nil {
		tlsConfig.GetClientCertificate = cc.creds.clientCertificate
	}
	proxy := http.ProxyFromEnvironment
	if cc.proxy != nil {
		proxy = http.ProxyURL(cc.proxy)
	}
	transport := &http.Transport{
		Proxy:               proxy,
		TLSClientConfig:     tlsConfig,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	every := time.Duration(float64(time.Second) / float64(c.QPS))
	return &client{
		base:   base,
		http:   &http.Client{Transport: transport},
		creds:  cc.creds,
		host:   cc.server,
		caData: cc.caData,
		rate:   ratelimit.Rate{Every: every, Burst: c.Burst},
		wait:   backoff.Sleep,
	}, nil
}

// apiError is an answer other than 2xx, with the API server's Status when it sent one.
type apiError struct {
	Code    int
	Reason  string // the Status reason: Forbidden, NotFound, AlreadyExists, Invalid, ...
	Message string
}

func (e *apiError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s (%d %s)", e.Message, e.Code, e.Reason)
	}
	return fmt.Sprintf("%s (%d)", e.Message, e.Code)
}

// status is the part of a meta/v1 Status the adapter reads.
type status struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Code    int    `json:"code"`
}

// errorOf reads an error answer: the Status JSON the API server sends, or, from something in
// front of it (a proxy's page), the start of the body on one line.
func errorOf(code int, body []byte) *apiError {
	var st status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" && st.Message != "" {
		return &apiError{Code: code, Reason: st.Reason, Message: st.Message}
	}
	msg := strings.Join(strings.Fields(string(body)), " ")
	if len(msg) > 200 {
		msg = msg[:200]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
		msg += "…"
	}
	if msg == "" {
		msg = http.StatusText(code)
	}
	return &apiError{Code: code, Message: msg}
}

// do sends one request and returns the answer's body, trying again as the server asks (429, or a
// 5xx with Retry-After) and once with fresh credentials after a 401 from an exec plugin's
// expired token.
func (cl *client) do(ctx context.Context, method, path string, query url.Values, contentType string, body []byte) ([]byte, error) {
	u := *cl.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query.Encode()
	refreshed := false
	for attempt := 0; ; attempt++ {
		if at := cl.limiter.Reserve(time.Now(), ratelimit.Limit{Key: "api", Rate: cl.rate}); at.After(time.Now()) {
			if err := cl.wait(ctx, time.Until(at)); err != nil {
				return nil, err
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "accessbot")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if cl.creds != nil {
			tok, err := cl.creds.token(ctx)
			if err != nil {
				return nil, err
			}
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
		}
		resp, err := cl.http.Do(req)
		if err != nil {
			return nil, err
		}
		answer, readErr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
		resp.Body.Close()
		if readErr != nil {
			return nil, readErr
		}
		if len(answer) > maxAnswer {
			return nil, fmt.Errorf("the API server's answer is over %d bytes", maxAnswer)
		}
		if resp.StatusCode/100 == 2 {
			return answer, nil
		}
		apiErr := errorOf(resp.StatusCode, answer)
		if resp.StatusCode == http.StatusUnauthorized && !refreshed && cl.creds != nil && cl.creds.refresh() {
			refreshed = true
			continue
		}
		retryAfter, told := retryAfterOf(resp.Header.Get("Retry-After"))
		again := resp.StatusCode == http.StatusTooManyRequests || (resp.StatusCode >= 500 && told)
		if !again || attempt >= maxRetries {
			return nil, apiErr
		}
		if !told {
			retryAfter = time.Second
		}
		if err := cl.wait(ctx, retryAfter); err != nil {
			return nil, err
		}
	}
}

// retryAfterOf reads a Retry-After header in seconds, bounded by maxRetryAfter.
func retryAfterOf(h string) (time.Duration, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n < 0 {
		return 0, false
	}
	return min(time.Duration(n)*time.Second, maxRetryAfter), true
}

// apply sends obj with server-side apply, owned by accessbot's field manager and taking over
// any field another manager set (force), so that a rerun converges on the same object.
func (cl *client) apply(ctx context.Context, path string, obj any) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	q := url.Values{"fieldManager": {fieldManager}, "force": {"true"}}
	_, err = cl.do(ctx, http.MethodPatch, path, q, "application/apply-patch+yaml", body)
	return err
}

// remove deletes the object at path; one already gone is not an error.
func (cl *client) remove(ctx context.Context, path string) error {
	body := []byte(`{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}`)
	_, err := cl.do(ctx, http.MethodDelete, path, nil, "application/json", body)
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
		return nil
	}
	return err
}

// get reads the object or list at path into into.
func (cl *client) get(ctx context.Context, path string, into any) error {
	answer, err := cl.do(ctx, http.MethodGet, path, nil, "", nil)
	if err != nil {
		return err
	}
	return decode(answer, into)
}

// create posts obj to path and reads the answer into into.
func (cl *client) create(ctx context.Context, path string, obj, into any) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	answer, err := cl.do(ctx, http.MethodPost, path, nil, "application/json", body)
	if err != nil {
		return err
	}
	return decode(answer, into)
}

func decode(answer []byte, into any) error {
	if err := json.Unmarshal(answer, into); err != nil {
		return fmt.Errorf("decode the API server's answer: %w", err)
	}
	return nil
}

// classify turns an API error into an adapter error of the right kind, in words that say what
// was being done. Throttling (429) and server errors that outlasted the waits the server asked
// for, conflicts, timeouts and network errors are worth retrying; a refusal, an invalid object
// or a missing namespace is not.
func classify(doing string, err error) error {
	if err == nil {
		return nil
	}
	var ae *apiError
	var ce *credentialError
	switch {
	case errors.As(err, &ce):
		if ce.permanent {
			return adapters.PermanentError(fmt.Errorf("%s: %w", doing, err))
		}
		return adapters.RetryableError(fmt.Errorf("%s: %w", doing, err))
	case !errors.As(err, &ae):
		return adapters.RetryableError(fmt.Errorf("%s: %w", doing, err))
	case ae.Code == http.StatusForbidden:
		return adapters.PermanentError(fmt.Errorf("%s: the API server refused: %s (give accessbot's identity that permission: see the README's kubernetes RBAC)", doing, ae.Message))
	case ae.Code == http.StatusUnauthorized:
		return adapters.PermanentError(fmt.Errorf("%s: the API server does not accept accessbot's credentials: %s", doing, ae.Message))
	case ae.Code == http.StatusNotFound, ae.Code == http.StatusUnprocessableEntity, ae.Code == http.StatusBadRequest,
		ae.Code == http.StatusMethodNotAllowed, ae.Code == http.StatusUnsupportedMediaType:
		return adapters.PermanentError(fmt.Errorf("%s: %s", doing, ae.Message))
	}
	// 429, 5xx, 409 Conflict and anything unexpected: try again later.
	return adapters.RetryableError(fmt.Errorf("%s: %w", doing, err))
}

// readFile reads a file the config names, with an error that says which without Go's prefixes.
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %v", path, pe.Err)
		}
		return nil, err
	}
	return b, nil
}
