package gcpiam

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
		{`^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$`, grantIDRE.MatchString},
		{`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`, projectID.MatchString},
		{`^[1-9][0-9]{0,24}$`, numericID.MatchString},
		{`^roles/[A-Za-z][A-Za-z0-9_.]{0,127}$`, predefinedRole.MatchString},
		{`^[A-Za-z0-9_.]{3,64}$`, customRoleID.MatchString},
	} {
		t.Run(c.old, func(t *testing.T) { identtest.Compare(t, c.old, c.check) })
	}
}
