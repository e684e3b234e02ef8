package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/app"
)

// TestGrantsShowTellsTheWholeStory: the request, its approval, the grant's events and the
// sessions seen, as text and as JSON; a grant with no session says so; a bad or unknown ID is
// one sentence.
func TestGrantsShowTellsTheWholeStory(t *testing.T) {
	cfgPath := writeConfig(t, t.TempDir())
	grantID := seed(t, cfgPath)

	code, out, errOut := runCLI(t, nil, "grants", "show", grantID, "--config", cfgPath)
	if code != 0 {
		t.Fatalf("grants show: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"Grant " + grantID + ": scratch for alice@example.com", "bob@example.com approve",
		"request.created", "request.approved", "grant.active", "Sessions seen at the target: 0", "none:"} {
		if !strings.Contains(out, want) {
			t.Errorf("grants show lacks %q:\n%s", want, out)
		}
	}

	// The sampler's event for a session, as it writes it.
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, testLogger(), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 9, 5, 0, 0, time.UTC)
	err = a.DB.Update(context.Background(), func(tx grants.Tx) error {
		_, err := tx.Append(context.Background(), audit.Event{At: at.Add(10 * time.Minute), Actor: "accessbot", Resource: "scratch",
			Subject: "alice@example.com", GrantID: grantID}.With(audit.ActivitySessionSeenData{Session: "pid:7@1", Account: "alice",
			Client: "10.0.0.7:5123", Application: "report-tool", FirstSeen: at, LastSeen: at.Add(5 * time.Minute), Ended: audit.SessionClosed}))
		if err != nil {
			return err
		}
		// Any client sets its application_name: one that would clear the terminal and forge a
		// line of the story.
		_, err = tx.Append(context.Background(), audit.Event{At: at.Add(20 * time.Minute), Actor: "accessbot", Resource: "scratch",
			Subject: "alice@example.com", GrantID: grantID}.With(audit.ActivitySessionSeenData{Session: "pid:8@1", Account: "alice",
			Application: "\x1b[2Jx\n  2026-11-02 09:00:00Z  to 2026-11-02 09:01:00Z  mallory", FirstSeen: at, LastSeen: at, Ended: audit.SessionClosed}))
		return err
	})
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, nil, "grants", "show", grantID, "--config", cfgPath)
	if strings.ContainsAny(out, "\x1b") || strings.Contains(out, "\n  2026-11-02 09:00:00Z  to") || !strings.Contains(out, `"\x1b[2Jx\n  2026`) {
		t.Fatalf("grants show prints a hostile application name as it is:\n%q", out)
	}
	if code != 0 || !strings.Contains(out, "Sessions seen at the target: 2") || !strings.Contains(out, "application report-tool") ||
		!strings.Contains(out, "client 10.0.0.7:5123") || !strings.Contains(out, "2026-11-02 09:05:00Z") {
		t.Fatalf("grants show with a session: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, nil, "grants", "show", grantID, "--json", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("grants show --json: exit %d\n%s%s", code, out, errOut)
	}
	var story struct {
		Grant    map[string]any   `json:"grant"`
		Request  map[string]any   `json:"request"`
		Reviews  []map[string]any `json:"reviews"`
		Events   []audit.Event    `json:"events"`
		Sessions []map[string]any `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(out), &story); err != nil {
		t.Fatalf("grants show --json is not one JSON object: %v\n%s", err, out)
	}
	if story.Grant["id"] != grantID || story.Request["requester"] != "alice@example.com" || len(story.Reviews) != 1 ||
		len(story.Sessions) != 2 || story.Sessions[0]["application"] != "report-tool" || len(story.Events) < 4 {
		t.Fatalf("grants show --json: %+v", story)
	}
	if strings.Contains(out, "lease") {
		t.Fatalf("grants show --json prints the lease data:\n%s", out)
	}

	for _, tc := range []struct {
		name, id string
		code     int
		want     string
	}{
		{"an unknown grant is named", "g-nosuchgrant", 1, "no grant g-nosuchgrant"},
		{"an ID that is not one is refused before the database", "g-1'; DROP TABLE grants; --", 2, "is not a grant ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, "grants", "show", tc.id, "--config", cfgPath)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, want %d with %q\n%s%s", code, tc.code, tc.want, out, errOut)
			}
		})
	}
}
