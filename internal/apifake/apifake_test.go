package apifake_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/internal/apifake"
)

// fake answers 200 "ok" unless the Recorder answered first.
type fake struct{ apifake.Recorder }

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, answered := f.Begin(w, r, func(status int) string { return `{"status":` + http.StatusText(status) + `}` }); answered {
		return
	}
	apifake.WriteRaw(w, http.StatusOK, "ok")
}

func TestRecorderAnswersInjectedFailuresInOrderThenTheRealAnswer(t *testing.T) {
	f := &fake{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	f.FailNext(apifake.Failure{Status: 429, RetryAfter: "7"}, apifake.Failure{Status: 400, Body: "mine"})
	type answer struct {
		status           int
		retryAfter, body string
	}
	want := []answer{{429, "7", `{"status":Too Many Requests}`}, {400, "", "mine"}, {200, "", "ok"}}
	for i, w := range want {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/x?q=1", strings.NewReader("hello"))
		req.Header.Set("Authorization", "Bearer t")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if got := (answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}); got != w {
			t.Errorf("answer %d = %+v, want %+v", i, got, w)
		}
	}
	calls := f.Calls()
	if len(calls) != 3 || calls[0] != (apifake.Call{Method: "POST", Path: "/x", Query: "q=1", Auth: "Bearer", Body: "hello"}) {
		t.Errorf("calls = %+v", calls)
	}
}

func TestRecorderAnswers503WhileDown(t *testing.T) {
	f := &fake{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, tt := range []struct {
		down bool
		want int
	}{{true, 503}, {false, 200}} {
		f.SetDown(tt.down)
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("down %v: status %d, want %d", tt.down, resp.StatusCode, tt.want)
		}
	}
}
