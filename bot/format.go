package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/duration"
)

// At writes a time for people: in UTC, with how far it is from now ("14:05 UTC, in 59m",
// "09:12 UTC, 3m ago"). A time on another day than now also shows its date.
func At(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	t, now = t.UTC(), now.UTC()
	clock := t.Format("15:04 UTC")
	if t.Format(time.DateOnly) != now.Format(time.DateOnly) {
		clock = t.Format("Mon 2 Jan 15:04 UTC")
	}
	return clock + ", " + Relative(t, now)
}

// Relative writes how far t is from now: "in 59m", "3m ago", "in 1d2h", "just now". The span
// is rounded as every span people read is (duration.Approx): a 2m grant made a moment ago ends
// "in 2m", not "in 1m".
func Relative(t, now time.Time) string {
	d := t.Sub(now)
	future := d > 0
	if d < 0 {
		d = -d
	}
	if d < time.Minute {
		if future {
			return "in under a minute"
		}
		return "just now"
	}
	if future {
		return "in " + duration.Approx(d)
	}
	return duration.Approx(d) + " ago"
}

// Duration writes a duration the way `/access` reads it: "1h30m", "2d".
func Duration(d time.Duration) string { return duration.Format(d) }

// names turns person IDs into how people are shown.
type names map[string]string

func (n names) of(id string) string {
	if id == "" {
		return "someone"
	}
	if id == grants.System.ID {
		return "accessbot"
	}
	if id == grants.PolicyActor {
		return "policy"
	}
	if name := n[id]; name != "" {
		return name
	}
	return id
}

func (n names) list(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = n.of(id)
	}
	return strings.Join(out, ", ")
}

// approversText says who may approve, from the policy.
func approversText(res *grants.Resource) string {
	if res == nil || len(res.Policy.ApproverGroups) == 0 {
		return "nobody (ask an admin)"
	}
	return strings.Join(res.Policy.ApproverGroups, ", ")
}

// policyText says what a request needs: "2 approvals from sre-leads".
func policyText(needed int, res *grants.Resource) string {
	needed = max(needed, 1)
	what := "1 approval"
	if needed > 1 {
		what = fmt.Sprintf("%d approvals", needed)
	}
	return what + " from " + approversText(res)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// code marks a command for platforms that show code: it is plain text in the View.
func code(s string) string { return "`" + s + "`" }
