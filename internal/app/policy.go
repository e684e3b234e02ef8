package app

import (
	"context"
	"fmt"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/config/policyaudit"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// configSnapshots keeps the snapshot of the config in force at the last start (storage.DB).
type configSnapshots interface {
	RecordConfigSnapshot(ctx context.Context, sha256 string, snapshot []byte,
		change func(prev []byte) (audit.Event, error)) (audit.Event, bool, error)
}

// RecordPolicyChange writes to the audit log how the config differs from the one in force at
// the last start, as a config.changed event with its redacted semantic diff: every key as
// added at the first start ("initial"), nothing when the policy is the same (a restart, a
// second replica). It returns the event and whether one was written.
func RecordPolicyChange(ctx context.Context, store configSnapshots, cfg *config.Config, clk clock.Clock) (audit.Event, bool, error) {
	cur := policyaudit.TakeSnapshot(cfg)
	sum := cur.SHA256()
	e, recorded, err := store.RecordConfigSnapshot(ctx, sum, cur.JSON(), func(prevJSON []byte) (audit.Event, error) {
		p := audit.ConfigChangedData{SnapshotSHA256: sum, ConfigSHA256: cfg.Hash(), Initial: prevJSON == nil}
		prev := policyaudit.Snapshot{}
		if prevJSON != nil {
			var err error
			if prev, err = policyaudit.ParseSnapshot(prevJSON); err != nil {
				return audit.Event{}, err
			}
		}
		p.Changes = policyaudit.Diff(prev, cur)
		return audit.Event{At: clk.Now(), Actor: grants.System.ID}.With(p), nil
	})
	if err != nil {
		return audit.Event{}, false, fmt.Errorf("record policy changes in audit log: %w", err)
	}
	return e, recorded, nil
}
