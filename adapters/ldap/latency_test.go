package ldap

import (
	"testing"

	"github.com/accessbot/accessbot/bench/adapters/latency"
	"github.com/accessbot/accessbot/internal/slapdtest"
)

// BenchmarkApprovedToReturned measures the time from an approval's commit to the commit of
// grant.active, through the real grants.Service and Scheduler, with the adapter against this
// package's slapd and a bot limited by olcAccess to its group, beside a noop baseline in the
// same run. Run it with -benchtime=200x (go run ./bench/adapters does).
func BenchmarkApprovedToReturned(b *testing.B) {
	srv := slapdtest.Shared(b)
	srv.AddPerson(b, "latency", "")
	bot := srv.AddService(b, "accessbot-latency", botPassword)
	group := srv.AddGroup(b, "latency", "groupOfNames", placeholder)
	srv.SetAccess(b, append(append([]string{passwordRule}, leastAccess(bot, group, "member", false)...), "to * by * read")...)
	cfg := baseConfig(srv, bot, group)
	cfg.PlaceholderMember = placeholder
	latency.Bench(b, newAdapter(b, cfg), latency.Options{AdapterType: "ldap", Account: "latency"})
}
