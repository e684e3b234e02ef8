package discord_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/bot/bottest"
	"github.com/accessbot/accessbot/bot/discord"
	"github.com/accessbot/accessbot/bot/discord/discordtest"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// secretView is the DM that carries value, as bot.SecretView makes it for a kind on k8s-prod.
func secretView(kind, value string) bot.View {
	g := grants.Grant{ID: "g-1", Resource: "k8s-prod", ExpiresAt: t0.Add(time.Hour)}
	return bot.SecretView(g, &adapters.Secret{Kind: kind, Label: kind + " for k8s-prod", Value: value}, t0)
}

// sentEmbed is the first embed of a message payload.
type sentEmbed struct {
	Embeds []struct {
		Description string `json:"description"`
		Fields      []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"fields"`
	} `json:"embeds"`
	Attachments []struct {
		ID       int    `json:"id"`
		Filename string `json:"filename"`
	} `json:"attachments"`
}

func TestASecretReachesDiscordWholeAndVerbatim(t *testing.T) {
	tests := []struct {
		name, kind, value string
		// file is the attachment's name; "" means the value is in the embed, as inline code.
		file string
	}{
		{"a password is inline code", "password", "hunter2_*not*-a-||spoiler||", ""},
		{"a 1.3 KB kubeconfig is a file", "kubeconfig", bottest.Kubeconfig(1331), "k8s-prod.kubeconfig"},
		{"a 3.5 KB kubeconfig is a file", "kubeconfig", bottest.Kubeconfig(3584), "k8s-prod.kubeconfig"},
		{"a short value with a backtick is a file", "password", "ab`cd", "k8s-prod.password"},
		{"a short value of two lines is a file", "token", "line one\nline two", "k8s-prod.token"},
		{"a value with a space at its end is a file", "password", "pass word ", "k8s-prod.password"},
		{"an odd kind makes a safe file name", "X.509 cert/chain", bottest.Kubeconfig(2000), "k8s-prod.X.509-cert-chain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := discordtest.New(t)
			c := newClient(t, fake, clock.NewFake(t0), nil)
			ref, err := c.DM(ctx(t), aliceID, secretView(tt.kind, tt.value))
			if err != nil {
				t.Fatal(err)
			}
			m, ok := fake.Message(ref.Channel, ref.ID)
			if !ok {
				t.Fatalf("no message %+v in the fake", ref)
			}
			var sent sentEmbed
			if err := json.Unmarshal(m.Body, &sent); err != nil || len(sent.Embeds) != 1 || len(sent.Embeds[0].Fields) == 0 {
				t.Fatalf("payload %s: %v", m.Body, err)
			}
			field := sent.Embeds[0].Fields[0]
			if tt.file == "" {
				if field.Value != "`"+tt.value+"`" || len(m.Files) != 0 {
					t.Errorf("field %q and %d files, want the value as inline code and no file", field.Value, len(m.Files))
				}
				return
			}
			if len(m.Files) != 1 || !bytes.Equal(m.Files[tt.file], []byte(tt.value)) {
				t.Fatalf("files %v, want %s holding the %d bytes sent", keys(m.Files), tt.file, len(tt.value))
			}
			if len(sent.Attachments) != 1 || sent.Attachments[0].Filename != tt.file {
				t.Errorf("attachments %+v, want %s", sent.Attachments, tt.file)
			}
			if !strings.Contains(field.Value, tt.file) {
				t.Errorf("the embed does not say where the secret is: %q", field.Value)
			}
			if strings.Contains(string(m.Body), tt.value) {
				t.Errorf("the message's JSON carries the value besides the file")
			}
		})
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestASecretOverDiscordsLimitIsRefusedBeforeAnythingIsSent(t *testing.T) {
	fake := discordtest.New(t)
	c := newClient(t, fake, clock.NewFake(t0), nil)
	value := strings.Repeat("a", 8<<20+1)
	_, err := c.DM(ctx(t), aliceID, secretView("kubeconfig", value))
	if !errors.Is(err, bot.ErrSecretTooLong) || !errors.Is(err, bot.ErrPermanent) {
		t.Fatalf("DM of a secret over 8 MiB = %v, want ErrSecretTooLong (permanent)", err)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("%d calls to Discord, want none:\n%s", n, fake)
	}
	if err := c.Update(ctx(t), bot.MessageRef{Platform: "discord", Channel: "1", ID: "2"}, secretView("kubeconfig", value)); !errors.Is(err, bot.ErrSecretTooLong) {
		t.Errorf("Update = %v, want ErrSecretTooLong", err)
	}
}

func TestAFileDiscordRefusesAsTooLargeIsAPermanentFailure(t *testing.T) {
	fake := discordtest.New(t)
	c := newClient(t, fake, clock.NewFake(t0), nil)
	fake.FailNext(discordtest.RoutePostMessage, http.StatusRequestEntityTooLarge, 40005, "Request entity too large")
	_, err := c.DM(ctx(t), aliceID, secretView("kubeconfig", bottest.Kubeconfig(3584)))
	if !errors.Is(err, bot.ErrPermanent) {
		t.Errorf("a 413 = %v, want a permanent error", err)
	}
}

func TestTheEmbedNeverCutsTheSecretsField(t *testing.T) {
	// A view with the most fields there can be and long ones: the secret's field still comes
	// first, whole.
	v := secretView("password", "hunter2")
	for range 30 {
		v.Fields = append(v.Fields, bot.Field{Label: "Note", Value: strings.Repeat("x", 900)})
	}
	e := discord.Embed(v)
	if len(e.Fields) == 0 || e.Fields[0].Value != "`hunter2`" {
		t.Fatalf("first field %+v, want the secret", e.Fields)
	}
	if len(e.Fields) > 25 {
		t.Errorf("%d fields, over Discord's 25", len(e.Fields))
	}
}
