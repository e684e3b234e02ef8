package ghdevice_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters/github/githubtest"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/ghdevice"
)

const clientID = "Iv23liAbCdEf12345678"

// waits is a Wait that returns at once, records each wait and moves the fake clock by it.
type waits struct {
	clock *clock.Fake
	got   []time.Duration
}

func (w *waits) wait(_ context.Context, d time.Duration) error {
	w.got = append(w.got, d)
	w.clock.Advance(d)
	return nil
}

func newClient(f *githubtest.DeviceFlow) (*ghdevice.Client, *waits) {
	c := clock.NewFake(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
	w := &waits{clock: c}
	return &ghdevice.Client{ClientID: clientID, OAuthURL: f.URL, APIURL: f.URL, Clock: c, Wait: w.wait}, w
}

func TestTheFlowPollsAtTheIntervalSlowsDownWhenToldAndReadsTheUser(t *testing.T) {
	f := githubtest.NewDeviceFlow(t, clientID)
	c, w := newClient(f)
	ctx := context.Background()
	code, err := c.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code.UserCode != githubtest.UserCode || code.VerificationURI != f.URL+"/login/device" || code.Interval != 5*time.Second {
		t.Errorf("code %+v", code)
	}
	f.Then("authorization_pending", "slow_down", "authorization_pending")
	f.Authorize("Octo-Cat", 583231)
	u, err := c.Await(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if u != (ghdevice.User{Login: "Octo-Cat", ID: 583231}) {
		t.Errorf("user %+v", u)
	}
	want := []time.Duration{5 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second}
	if fmt.Sprint(w.got) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v (5 s, then 5 s more after slow_down)", w.got, want)
	}
	var ops []string
	for _, call := range f.Calls() {
		ops = append(ops, call.Op+"="+call.Answer)
		if call.Op == "POST /login/oauth/access_token" && (call.Form.Get("grant_type") != ghdevice.GrantType || call.Form.Get("client_id") != clientID) {
			t.Errorf("poll form %v", call.Form)
		}
	}
	wantOps := "POST /login/device/code=code POST /login/oauth/access_token=authorization_pending POST /login/oauth/access_token=slow_down " +
		"POST /login/oauth/access_token=authorization_pending POST /login/oauth/access_token=token GET /user=Octo-Cat"
	if strings.Join(ops, " ") != wantOps {
		t.Errorf("calls\n %s\nwant\n %s", strings.Join(ops, " "), wantOps)
	}
}

func TestWhatThePersonDoesAtGitHubIsItsOwnError(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  func(f *githubtest.DeviceFlow)
		want error
	}{
		{"declined", func(f *githubtest.DeviceFlow) { f.Then("authorization_pending"); f.Deny() }, ghdevice.ErrDenied},
		{"expired at GitHub", func(f *githubtest.DeviceFlow) { f.Expire() }, ghdevice.ErrExpired},
		{"never entered before the deadline", func(*githubtest.DeviceFlow) {}, ghdevice.ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := githubtest.NewDeviceFlow(t, clientID)
			c, w := newClient(f)
			code, err := c.Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			tc.act(f)
			if _, err := c.Await(context.Background(), code); !errors.Is(err, tc.want) {
				t.Fatalf("Await = %v, want %v", err, tc.want)
			}
			if tc.want == ghdevice.ErrExpired && len(f.Calls()) > 1 && len(w.got) > 900/5 {
				t.Errorf("%d polls for a code that lives 900 s at a 5 s interval", len(w.got))
			}
		})
	}
}

func TestSetupMistakesAreErrorsNotThePersons(t *testing.T) {
	f := githubtest.NewDeviceFlow(t, clientID)
	c, _ := newClient(f)
	c.ClientID = "Iv23liSomeoneElse000"
	if _, err := c.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Start with an unknown client ID = %v, want GitHub's 404", err)
	}
	c.ClientID = clientID
	code, err := c.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.ClientID = "Iv23liSomeoneElse000"
	_, err = c.Await(context.Background(), code)
	if err == nil || errors.Is(err, ghdevice.ErrDenied) || errors.Is(err, ghdevice.ErrExpired) || !strings.Contains(err.Error(), "incorrect_client_credentials") {
		t.Errorf("Await with another client ID = %v, want incorrect_client_credentials", err)
	}
}

func TestADeviceCodeNeverPrints(t *testing.T) {
	f := githubtest.NewDeviceFlow(t, clientID)
	c, _ := newClient(f)
	code, err := c.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	issued := f.Issued()
	if len(issued) != 1 {
		t.Fatalf("issued %v", issued)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, code); strings.Contains(s, issued[0]) {
			t.Errorf("%s of a Code shows the device code: %s", format, s)
		}
	}
}
