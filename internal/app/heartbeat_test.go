package app_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/accessbot/accessbot/internal/clock"
)

func TestServeBeatsUnderItsOwnIdentityUnlessTheLegacyHoldRuleIsChosen(t *testing.T) {
	for _, tt := range []struct {
		name, rule string
		beats      bool
	}{
		{name: "the default owner rule", beats: true},
		{name: "the legacy rule", rule: "hold_rule: legacy", beats: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
scheduler: {heartbeat_timeout: 2s, ` + tt.rule + `}
groups:
  leads: ["bob@example.com"]
resources:
  - name: scratch
    adapter: {type: exec, command: /bin/true}
    policy: {approvers: [leads]}
`
			start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
			clk := clock.NewFake(start)
			a, ctx, cancel := newApp(t, dir, yaml, nil, clk)
			if !tt.beats {
				if a.Heartbeat != nil {
					t.Fatal("under the legacy rule serve keeps a heartbeat")
				}
				return
			}
			if a.Heartbeat == nil || a.Heartbeat.ID == "" || a.Heartbeat.Interval != 500*time.Millisecond {
				t.Fatalf("heartbeat %+v, want an identity beating every quarter of the 2s timeout", a.Heartbeat)
			}
			runErr := make(chan error, 1)
			go func() { runErr <- a.Run(ctx) }()
			// Read the row as another process would, from the file.
			peer, err := sql.Open("sqlite", filepath.Join(dir, "accessbot.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			lastSeen := func() int64 {
				var us int64
				_ = peer.QueryRowContext(ctx, `SELECT last_seen FROM processes WHERE id = ?`, a.Heartbeat.ID).Scan(&us)
				return us
			}
			waitFor(t, "the first beat", func() bool { return lastSeen() == start.UnixMicro() })
			// The beats follow the (fake) clock.
			waitFor(t, "a later beat", func() bool {
				clk.Advance(100 * time.Millisecond)
				return lastSeen() > start.UnixMicro()
			})
			cancel()
			if err := <-runErr; err != nil {
				t.Fatalf("run: %v", err)
			}
		})
	}
}
