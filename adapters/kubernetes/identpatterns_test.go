package kubernetes

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
		{`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`, dns1123Label.MatchString},
	} {
		t.Run(c.old, func(t *testing.T) { identtest.Compare(t, c.old, c.check) })
	}
}
