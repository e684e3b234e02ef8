package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/ops"
)

// countingTx answers only the two counting queries the metrics collector makes.
type countingTx struct {
	grants.ReadTx
	reqs map[grants.RequestState]int
	grs  map[grants.GrantState]int
}

func (c countingTx) CountRequests(context.Context) (map[grants.RequestState]int, error) {
	return c.reqs, nil
}
func (c countingTx) CountGrants(context.Context) (map[grants.GrantState]int, error) {
	return c.grs, nil
}

type fakeStore struct {
	grants.Store
	tx      countingTx
	pingErr error
}

func (f *fakeStore) View(ctx context.Context, fn func(grants.ReadTx) error) error { return fn(f.tx) }
func (f *fakeStore) Ping(context.Context) error                                   { return f.pingErr }

type checker struct{ err error }

func (c checker) Check(context.Context) error { return c.err }

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsExposeStateCountsAndLateness(t *testing.T) {
	store := &fakeStore{tx: countingTx{
		reqs: map[grants.RequestState]int{grants.RequestPending: 3},
		grs:  map[grants.GrantState]int{grants.GrantActive: 5, grants.GrantRevokeFailed: 1, grants.GrantRevoked: 9},
	}}
	m := ops.NewMetrics(store)
	m.RevokeLateness(300 * time.Millisecond)
	m.RevokeFailure("prod-db")
	m.AdapterCall("prod-db", "revoke", time.Second, adapters.PermanentError(errors.New("no such role")))
	mux := http.NewServeMux()
	ops.Mount(mux, &ops.Health{DB: store}, m)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	code, body := get(t, srv, "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics = %d", code)
	}
	for _, want := range []string{
		`accessbot_requests{state="pending"} 3`,
		`accessbot_grants{state="active"} 5`,
		`accessbot_grants{state="revoke_failed"} 1`,
		`accessbot_active_grants 6`,
		`accessbot_revoke_lateness_seconds_bucket{le="0.5"} 1`,
		`accessbot_revoke_lateness_seconds_bucket{le="0.25"} 0`,
		`accessbot_revoke_failures_total{resource="prod-db"} 1`,
		`accessbot_adapter_calls_total{op="revoke",resource="prod-db",result="permanent"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestReadyzReportsEachCheck(t *testing.T) {
	cases := []struct {
		name      string
		pingErr   error
		adapter   error
		wantCode  int
		wantReady bool
	}{
		{"all healthy is ready", nil, nil, 200, true},
		{"an unreachable database is not ready", errors.New("database is locked"), nil, 503, false},
		{"an unhealthy adapter is not ready", nil, errors.New("connection refused"), 503, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := &fakeStore{pingErr: tc.pingErr}
			mux := http.NewServeMux()
			ops.Mount(mux, &ops.Health{DB: store, Checkers: map[string]adapters.Checker{"prod-db": checker{tc.adapter}}}, ops.NewMetrics(nil))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			code, body := get(t, srv, "/readyz")
			if code != tc.wantCode {
				t.Fatalf("GET /readyz = %d, want %d (%s)", code, tc.wantCode, body)
			}
			var got struct {
				Ready  bool        `json:"ready"`
				Checks []ops.Check `json:"checks"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Ready != tc.wantReady || len(got.Checks) != 2 {
				t.Fatalf("readyz = %+v", got)
			}
			if code, _ := get(t, srv, "/healthz"); code != 200 {
				t.Fatalf("healthz = %d; liveness must not depend on readiness", code)
			}
		})
	}
}
