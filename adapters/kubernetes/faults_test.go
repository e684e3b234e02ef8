package kubernetes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	gt "github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/kubetest"
)

// faultProxy stands between the adapter and the real API server and answers the first requests
// that match with a fault of its own, as a loaded or failing control plane does.
type faultProxy struct {
	mu sync.Mutex
	// fault answers a request instead of the server when it returns true.
	fault func(w http.ResponseWriter, r *http.Request) bool
	seen  []string
}

func (p *faultProxy) serve(t *testing.T, srv *kubetest.Server) string {
	t.Helper()
	target, _ := url.Parse(srv.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAData)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.Method+" "+r.URL.Path)
		f := p.fault
		p.mu.Unlock()
		if f != nil && f(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// proxied builds a binding-mode adapter that reaches the API server through the proxy, as the
// bot user. The waits the server asks for are recorded, not slept.
func proxied(t *testing.T, srv *kubetest.Server, proxyURL string, nss []string) (adapters.Adapter, *[]time.Duration) {
	t.Helper()
	c := NewConfig()
	c.ClusterRole, c.Namespaces = "kt-reader", nss
	c.Timeout = 20 * time.Second
	// The proxy speaks plain HTTP on the loopback.
	cl, err := newClient(&clusterConfig{server: proxyURL, creds: &staticCreds{tok: srv.Token(kubetest.Bot)}}, c)
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	cl.wait = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	k := &Kubernetes{cfg: *c, log: zerolog.Nop(), client: cl, Now: time.Now}
	return &bindingAdapter{k}, &waits
}

// The API server throttles (429 with Retry-After) and fails (503) for a while: the grant waits
// as told and succeeds, without the scheduler having to retry it.
func TestThrottlingIsWaitedOutAsTheServerAsks(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	p := &faultProxy{}
	// One of each, each asking for a wait of 1 s (Retry-After is in whole seconds).
	left := 2
	p.fault = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPatch || left == 0 {
			return false
		}
		left--
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		code := http.StatusTooManyRequests
		if left == 0 {
			code = http.StatusServiceUnavailable
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","message":"too many requests, please try again later","code":%d}`, code)
		return true
	}
	a, waits := proxied(t, srv, p.serve(t, srv), nss)
	req := adapters.GrantRequest{GrantID: "g-throttled", Resource: "k8s-prod", Subject: adapters.Subject{Account: kubetest.Alice}, Expires: time.Now().Add(time.Hour)}
	if _, err := a.Grant(context.Background(), req); err != nil {
		t.Fatalf("grant through a throttling server: %v", err)
	}
	if left != 0 {
		t.Fatalf("%d faults left unanswered", left)
	}
	if want := []time.Duration{time.Second, time.Second}; !slices.Equal(*waits, want) {
		t.Fatalf("waited %v, want %v (what Retry-After said)", *waits, want)
	}
	patches := 0
	for _, r := range p.seen {
		if strings.HasPrefix(r, "PATCH ") {
			patches++
		}
	}
	if patches != 3 {
		t.Fatalf("%d PATCH requests reached the proxy, want 3 (two answered with a fault, one applied): %v", patches, p.seen)
	}
	gt.Eventually(t, 5*time.Second, "alice to have the access the grant returned", func() bool {
		return canListPods(t, srv, kubetest.Alice, nil, nss)
	})
	if err := a.Revoke(context.Background(), adapters.RevokeRequest{GrantID: req.GrantID, Subject: req.Subject}); err != nil {
		t.Fatal(err)
	}
}

// A server that keeps failing makes a retryable error (the scheduler backs off and retries); a
// refusal or an invalid object makes a permanent one, in words that say what was being done.
func TestErrorKindsFollowTheAPIServersAnswer(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	cases := []struct {
		name      string
		code      int
		reason    string
		permanent bool
		says      string
	}{
		{"an internal error", http.StatusInternalServerError, "InternalError", false, "apply RoleBinding"},
		{"a conflict", http.StatusConflict, "Conflict", false, "apply RoleBinding"},
		{"a refusal", http.StatusForbidden, "Forbidden", true, "the API server refused"},
		{"an invalid object", http.StatusUnprocessableEntity, "Invalid", true, "apply RoleBinding"},
		{"bad credentials", http.StatusUnauthorized, "Unauthorized", true, "does not accept accessbot's credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &faultProxy{}
			p.fault = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.code)
				fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":%q,"message":"injected %s","code":%d}`, tc.reason, strings.ToLower(tc.reason), tc.code)
				return true
			}
			a, _ := proxied(t, srv, p.serve(t, srv), nss)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := a.Grant(ctx, adapters.GrantRequest{GrantID: "g-fault", Resource: "k8s-prod", Subject: adapters.Subject{Account: kubetest.Alice}, Expires: time.Now().Add(time.Hour)})
			if err == nil {
				t.Fatal("grant succeeded through a failing server")
			}
			if adapters.IsPermanent(err) != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", adapters.IsPermanent(err), tc.permanent, err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

// A server that keeps throttling is waited out five times, as it asks, and then the grant is a
// retryable error for the scheduler; an answer larger than the adapter reads is refused.
func TestLastingThrottlingAndOversizedAnswersAreRefused(t *testing.T) {
	srv := server(t)
	nss := namespaces(t, srv, 1)
	p := &faultProxy{}
	p.fault = func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "30")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","message":"too many requests, please try again later","code":429}`)
		return true
	}
	a, waits := proxied(t, srv, p.serve(t, srv), nss)
	req := adapters.GrantRequest{GrantID: "g-throttled-long", Resource: "k8s-prod", Subject: adapters.Subject{Account: kubetest.Alice}, Expires: time.Now().Add(time.Hour)}
	_, err := a.Grant(context.Background(), req)
	if err == nil || adapters.IsPermanent(err) || !strings.Contains(err.Error(), "too many requests") {
		t.Fatalf("grant through a server that keeps throttling: %v, want a retryable error with its words", err)
	}
	// Five waits of the 10 s cap (Retry-After said 30 s), six tries.
	if want := slices.Repeat([]time.Duration{maxRetryAfter}, maxRetries); !slices.Equal(*waits, want) {
		t.Fatalf("waited %v, want %v", *waits, want)
	}

	p.fault = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[` + strings.Repeat(" ", maxAnswer) + `]}`))
		return true
	}
	if _, err := a.(adapters.Lister).List(context.Background()); err == nil || !strings.Contains(err.Error(), "over") {
		t.Fatalf("list with an answer over %d bytes: %v, want it refused", maxAnswer, err)
	}
}
