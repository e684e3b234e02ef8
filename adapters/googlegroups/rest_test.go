package googlegroups

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
)

// canned serves one fixed answer to every request.
func canned(t *testing.T, status int, body string) *restClient {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	return newRESTClient(ts.URL, ts.Client())
}

// Answers that are not what the API documents become clear errors, never a path or a
// membership built from Google's text.
func TestTheRESTClientRefusesAnswersTheAPIDoesNotDocument(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func() error
		says string
	}{
		{"a group name that is not groups/<id>", func() error {
			_, err := canned(t, 200, `{"name":"groups/../../x"}`).lookupGroup(ctx, testGroup)
			return err
		}, "is not a group's resource name"},
		{"a membership of another group", func() error {
			_, err := canned(t, 200, `{"name":"groups/other/memberships/m1"}`).lookupMembership(ctx, "groups/g1", alice)
			return err
		}, "is not a membership of groups/g1"},
		{"a proxy's HTML page", func() error {
			_, err := canned(t, 502, "<html><body>Bad   gateway</body></html>").lookupGroup(ctx, testGroup)
			return err
		}, "Google answered 502: <html><body>Bad gateway</body></html>"},
		{"Google's error JSON", func() error {
			_, err := canned(t, 403, `{"error":{"code":403,"message":"Error(2028): Permission denied","status":"PERMISSION_DENIED"}}`).lookupGroup(ctx, testGroup)
			return err
		}, "Google answered 403 PERMISSION_DENIED: Error(2028): Permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want it to say %q", err, tc.says)
			}
		})
	}
}

// A create whose operation is done with an error is that error, classified by its gRPC code:
// ALREADY_EXISTS goes back to the lookup, PERMISSION_DENIED is permanent.
func TestAnOperationsErrorIsClassifiedByItsCode(t *testing.T) {
	for _, tc := range []struct {
		code      int
		permanent bool
		says      string
	}{
		{7, true, "Google refused: The caller does not have permission"},
		{14, false, "Google answered 503"},
	} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case strings.HasSuffix(r.URL.Path, "groups:lookup"):
				_, _ = w.Write([]byte(`{"name":"groups/g1"}`))
			case strings.HasSuffix(r.URL.Path, "memberships:lookup"):
				w.WriteHeader(404)
				_, _ = w.Write([]byte(`{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`))
			default:
				msg := map[int]string{7: "The caller does not have permission", 14: "unavailable"}[tc.code]
				_, _ = w.Write([]byte(`{"name":"operations/o1","done":true,"error":{"code":` + strconv.Itoa(tc.code) + `,"message":"` + msg + `"}}`))
			}
		}))
		c := NewConfig()
		c.Group, c.Endpoint, c.MaxAttempts = testGroup, ts.URL, 1
		a, err := New(*c, zerolog.Nop(), WithHTTPClient(ts.Client()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Grant(context.Background(), grantReq("g-op", alice, time.Now().Add(time.Hour)))
		ts.Close()
		if err == nil || adapters.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("code %d: grant = %v, want permanent %v saying %q", tc.code, err, tc.permanent, tc.says)
		}
	}
}
