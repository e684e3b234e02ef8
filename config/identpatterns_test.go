package config

import (
	"testing"

	"github.com/accessbot/accessbot/internal/ident/identtest"
)

// The counted patterns this package's identifier checks replace, as they were written: each
// check must accept exactly what its pattern did (internal/ident says why they changed).
func TestIdentifierChecksAcceptWhatTheirCountedPatternsDid(t *testing.T) {
	for _, c := range []struct {
		old   string
		check func(string) bool
	}{
		{`^(#[a-z0-9][a-z0-9._-]{0,79}|[A-Z0-9]{6,20})$`, slackChannel.MatchString},
		{`^[a-z0-9_]{1,64}$`, alertName.MatchString},
		{`^[a-z0-9][a-z0-9_-]{0,31}$`, ticketSystemName.MatchString},
		{`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`, isEmailDomain},
		{`^T[A-Z0-9]{2,20}$`, slackTeamID.MatchString},
		{`^E[A-Z0-9]{2,20}$`, slackOrgID.MatchString},
		{`^[a-z0-9][a-z0-9_.-]{0,62}$`, resourceName.MatchString},
		{`^[0-9]{15,21}$`, snowflake.MatchString},
		{`^[A-Za-z0-9._-]{8,64}$`, githubClientID.MatchString},
		{`^[a-z0-9][a-z0-9._-]{0,31}$`, webPersonID.MatchString},
	} {
		t.Run(c.old, func(t *testing.T) { identtest.Compare(t, c.old, c.check) })
	}
}
