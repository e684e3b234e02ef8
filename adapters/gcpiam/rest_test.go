package gcpiam

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/accessbot/accessbot/adapters"
)

// wireCall is one request as it reached the server.
type wireCall struct {
	method, path, query, contentType, auth, body string
}

// wire is an HTTP server that records each request and answers with answer(path).
func wire(t *testing.T, answer func(w http.ResponseWriter, path string)) (*httptest.Server, func() []wireCall) {
	t.Helper()
	var mu sync.Mutex
	var calls []wireCall
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, wireCall{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(b)})
		mu.Unlock()
		answer(w, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []wireCall {
		mu.Lock()
		defer mu.Unlock()
		return append([]wireCall(nil), calls...)
	}
}

// wireAdapter is the adapter against endpoint with a static token and retries that do not wait.
func wireAdapter(t *testing.T, endpoint string, resource string) (*GCP, *waits) {
	t.Helper()
	c := NewConfig()
	c.Resource, c.Role, c.Endpoint, c.Timeout, c.MaxAttempts = resource, testRole, endpoint, 10*time.Second, 2
	g, err := New(*c, zerolog.Nop(), WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"})))
	if err != nil {
		t.Fatal(err)
	}
	w := &waits{}
	g.Wait = w.wait
	return g, w
}

// The three calls go where the v3 REST API has them, under the endpoint as a base URL (a path in
// it kept, with or without the trailing slash), as POSTs of JSON with the bearer token, and with
// the bodies the API documents: getIamPolicy asks for version 3, setIamPolicy sends the policy
// as read with the etag and no update mask, testIamPermissions the permissions.
func TestTheCallsAreTheDocumentedRESTRequests(t *testing.T) {
	for _, tc := range []struct {
		name, resource, suffix, prefix string
	}{
		{"a project under the endpoint's root", "projects/accessbot-test", "/", ""},
		{"a folder under a path without a trailing slash", "folders/1234567890", "/crm", "/crm"},
		{"an organization under a path with a trailing slash", "organizations/987654321", "/crm/", "/crm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := wire(t, func(w http.ResponseWriter, path string) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case strings.HasSuffix(path, ":getIamPolicy"):
					_, _ = io.WriteString(w, `{"version":1,"etag":"BwX1","auditConfigs":[{"service":"allServices"}],"bindings":[{"role":"roles/editor","members":["user:bob@example.com"]}]}`)
				case strings.HasSuffix(path, ":testIamPermissions"):
					_, _ = io.WriteString(w, `{"permissions":["resourcemanager.`+strings.Split(tc.resource, "/")[0]+`.getIamPolicy"]}`)
				default:
					_, _ = io.WriteString(w, `{}`)
				}
			})
			a, _ := wireAdapter(t, srv.URL+tc.suffix, tc.resource)
			if _, err := a.Grant(context.Background(), grantReq("g-wire", alice, time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC))); err != nil {
				t.Fatal(err)
			}
			err := a.Check(context.Background())
			if err == nil || !strings.Contains(err.Error(), "setIamPolicy") {
				t.Fatalf("check with only getIamPolicy held = %v, want setIamPolicy named", err)
			}
			kind := strings.Split(tc.resource, "/")[0]
			base := tc.prefix + "/v3/" + tc.resource
			want := []wireCall{
				{"POST", base + ":getIamPolicy", "alt=json&prettyPrint=false", "application/json", "Bearer tok",
					`{"options":{"requestedPolicyVersion":3}}`},
				{"POST", base + ":setIamPolicy", "alt=json&prettyPrint=false", "application/json", "Bearer tok",
					`{"policy":{"version":3,"bindings":[{"role":"roles/editor","members":["user:bob@example.com"]},` +
						`{"role":"roles/viewer","members":["user:alice@example.com"],"condition":{"title":"accessbot g-wire",` +
						`"description":"accessbot grant g-wire of gcp-prod to alice@example.com",` +
						`"expression":"request.time \u003c timestamp(\"2031-01-02T03:04:05Z\")"}}],` +
						`"auditConfigs":[{"service":"allServices"}],"etag":"BwX1"}}`},
				{"POST", base + ":testIamPermissions", "alt=json&prettyPrint=false", "application/json", "Bearer tok",
					`{"permissions":["resourcemanager.` + kind + `.getIamPolicy","resourcemanager.` + kind + `.setIamPolicy"]}`},
			}
			got := calls()
			if len(got) != len(want) {
				t.Fatalf("calls = %+v, want %+v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("call %d =\n%+v\nwant\n%+v", i, got[i], want[i])
				}
			}
		})
	}
}

// Google's error JSON is read with its status name and details; an answer that is not that JSON
// (a load balancer's page) keeps its HTTP status and the start of its text, on one line.
func TestErrorAnswersAreReadAsGoogleSendsThem(t *testing.T) {
	// long's 200th byte is the first of a two-byte character.
	long := "a" + strings.Repeat("é", 300)
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   googleError
		says   string
	}{
		{"Google's error JSON", 403,
			`{"error":{"code":403,"message":"Permission denied.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IAM_PERMISSION_DENIED"}]}}`,
			googleError{Code: 403, Message: "Permission denied.", Status: "PERMISSION_DENIED",
				Details: []json.RawMessage{json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IAM_PERMISSION_DENIED"}`)}},
			"Google answered 403 PERMISSION_DENIED: Permission denied."},
		{"a proxy's HTML page", 502, "<html>\n<body>Bad   Gateway</body>\n</html>\n",
			googleError{Code: 502, Message: "<html> <body>Bad Gateway</body> </html>"},
			"Google answered 502: <html> <body>Bad Gateway</body> </html>"},
		{"an empty body", 503, "", googleError{Code: 503, Message: "Service Unavailable"}, "Google answered 503: Service Unavailable"},
		{"JSON that is not Google's error", 500, `{"oops":true}`, googleError{Code: 500, Message: `{"oops":true}`}, `Google answered 500: {"oops":true}`},
		{"a long page, cut at a character boundary", 500, long,
			googleError{Code: 500, Message: long[:maxErrorText-1] + "…"}, "Google answered 500: " + long[:maxErrorText-1] + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseError(tc.status, []byte(tc.body))
			if show(got) != show(tc.want) {
				t.Errorf("parseError = %s, want %s", show(got), show(tc.want))
			}
			if got.Error() != tc.says {
				t.Errorf("error text %q, want %q", got.Error(), tc.says)
			}
		})
	}
}

// A gateway's 502 page is transient: retried within the call, then a retryable error that
// carries the status and the page's words.
func TestAGatewaysPageIsRetriedThenRetryable(t *testing.T) {
	srv, calls := wire(t, func(w http.ResponseWriter, _ string) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
	})
	a, w := wireAdapter(t, srv.URL, testProject)
	_, err := a.Grant(context.Background(), grantReq("g-gateway", alice, time.Now().Add(time.Hour)))
	if err == nil || adapters.IsPermanent(err) {
		t.Fatalf("grant through a 502 page = %v, want a retryable error", err)
	}
	if !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "502 Bad Gateway") {
		t.Errorf("error %q does not carry the status and the page's words", err)
	}
	if n, waited := len(calls()), w.count(); n != 2 || waited != 1 {
		t.Errorf("%d calls and %d waits, want 2 and 1 (max_attempts 2)", n, waited)
	}
}

// An answer larger than any policy can be is refused rather than read into memory.
func TestAnOversizedAnswerIsRefused(t *testing.T) {
	srv, _ := wire(t, func(w http.ResponseWriter, _ string) {
		_, _ = io.WriteString(w, `{"etag":"`+strings.Repeat("a", maxResponse)+`"}`)
	})
	a, _ := wireAdapter(t, srv.URL, testProject)
	_, err := a.List(context.Background())
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("list with an oversized answer = %v, want it refused as too large", err)
	}
}
