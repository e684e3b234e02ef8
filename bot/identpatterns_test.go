package bot

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
		{`^[a-z0-9][a-z0-9_.-]{0,63}$`, idPattern.MatchString},
		{`^[a-z0-9][a-z0-9_.-]{0,62}$`, namePattern.MatchString},
		{`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$`, githubLoginName.MatchString},
	} {
		t.Run(c.old, func(t *testing.T) { identtest.Compare(t, c.old, c.check) })
	}
}
