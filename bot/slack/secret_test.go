package slack_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/grants/grantstest"
	"github.com/accessbot/accessbot/internal/clock"
)

// secretView is the DM that carries value, as bot.SecretView makes it for a kubeconfig.
func secretView(value string) bot.View {
	g := grants.Grant{ID: "g-1", Resource: "k8s-prod", ExpiresAt: t0.Add(time.Hour)}
	return bot.SecretView(g, &adapters.Secret{Kind: "kubeconfig", Label: "kubeconfig for k8s-prod", Value: value}, t0)
}

func TestASecretReachesSlackWholeAndVerbatim(t *testing.T) {
	tests := []struct {
		name  string
		value string
	}{
		{"a password", "hunter2-<not>&-a-mention"},
		{"a 1.3 KB kubeconfig", bottest.Kubeconfig(1331)},
		{"a 3.5 KB kubeconfig", bottest.Kubeconfig(3584)},
		{"a kubeconfig at Slack's limit", bottest.Kubeconfig(10000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := slacktest.New(t)
			fake.AddUser(alice)
			c := newClient(t, fake, clock.NewFake(t0))
			ref, err := c.DM(ctx(t), alice.ID, secretView(tt.value))
			if err != nil {
				t.Fatal(err)
			}
			m, ok := fake.Message(ref.Channel, ref.ID)
			if !ok {
				t.Fatalf("no message %+v in the fake", ref)
			}
			pre, err := m.Preformatted()
			if err != nil {
				t.Fatal(err)
			}
			if len(pre) != 1 || pre[0] != tt.value {
				t.Fatalf("the message's code blocks hold %d values; the first differs from the %d bytes sent (%d bytes)",
					len(pre), len(tt.value), len(strings.Join(pre, "")))
			}
			// The notification text is what lock screens show: never the secret.
			if strings.Contains(m.Text, tt.value) {
				t.Errorf("the fallback text carries the secret: %q", m.Text)
			}
		})
	}
}

func TestASecretOverSlacksLimitIsRefusedBeforeAnythingIsSent(t *testing.T) {
	fake := slacktest.New(t)
	fake.AddUser(alice)
	c := newClient(t, fake, clock.NewFake(t0))
	value := bottest.Kubeconfig(10001)
	_, err := c.DM(ctx(t), alice.ID, secretView(value))
	if !errors.Is(err, bot.ErrSecretTooLong) || !errors.Is(err, bot.ErrPermanent) {
		t.Fatalf("DM of a 10,001-character secret = %v, want ErrSecretTooLong (permanent)", err)
	}
	if strings.Contains(err.Error(), value[100:200]) {
		t.Errorf("the error quotes the secret: %v", err)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("%d calls to Slack, want none:\n%v", n, fake.Calls())
	}
	if _, err := c.Post(ctx(t), "D0ALICE", secretView(value)); !errors.Is(err, bot.ErrSecretTooLong) {
		t.Errorf("Post = %v, want ErrSecretTooLong", err)
	}
	if err := c.Update(ctx(t), bot.MessageRef{Platform: "slack", Channel: "D0ALICE", ID: "1.2"}, secretView(value)); !errors.Is(err, bot.ErrSecretTooLong) {
		t.Errorf("Update = %v, want ErrSecretTooLong", err)
	}
}

// TestAKubeconfigGoesByDMOrTheHolderIsToldItCouldNot runs the whole path: an adapter's secret,
// bot.DeliverSecret, the Slack client and the fake. One Slack can carry arrives whole; one it
// cannot is never sent in part, and the holder gets the notice that it could not be delivered.
func TestAKubeconfigGoesByDMOrTheHolderIsToldItCouldNot(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		delivered bool
	}{
		{"a 3.5 KB kubeconfig is delivered", 3584, true},
		{"a 13 KB kubeconfig is refused and the holder told", 13000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := slacktest.New(t)
			client, err := slack.NewClient(slack.ClientOptions{BotToken: slacktest.BotToken, APIURL: fake.APIURL()})
			if err != nil {
				t.Fatal(err)
			}
			h := bottest.New(t, bottest.Options{Deliver: client})
			a := grantstest.Alice
			fake.AddUser(slacktest.User{ID: a.PlatformID, Name: a.Name, Email: a.Email})
			value := bottest.Kubeconfig(tt.size)
			h.Adapter.ReturnSecret(&adapters.Secret{Kind: "kubeconfig", Label: "kubeconfig for prod-db", Value: value})
			h.Command(a, "request prod-db 1h INC-1 fixing the index")
			h.Click(grantstest.Bob, bot.ActionApprove, "r-1")
			h.RunDue()
			h.Deliver()
			h.Advance(5 * time.Second) // the failure notice waits a moment for the grant's DM
			h.Deliver()

			dm := "D" + strings.TrimPrefix(a.PlatformID, "U")
			var whole, notice int
			for _, m := range fake.Messages(dm) {
				pre, err := m.Preformatted()
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range pre {
					if p == value {
						whole++
					}
				}
				if strings.Contains(m.Text, "could not be delivered") {
					notice++
				}
			}
			// No call carries any part of the value unless it carries all of it.
			part := value[len(value)/2 : len(value)/2+64]
			var carried int
			for _, c := range fake.Calls("chat.postMessage", "chat.update") {
				if strings.Contains(c.Arg("blocks"), part) {
					carried++
				}
			}
			if tt.delivered && (whole != 1 || notice != 0 || carried != 1) {
				t.Errorf("%d whole copies, %d failure notices, %d calls with the value; want 1, 0, 1", whole, notice, carried)
			}
			if !tt.delivered && (whole != 0 || notice != 1 || carried != 0) {
				t.Errorf("%d whole copies, %d failure notices, %d calls with the value; want 0, 1, 0", whole, notice, carried)
			}
			if strings.Contains(h.Logs.String(), part) {
				t.Errorf("the secret reached the logs")
			}
		})
	}
}
