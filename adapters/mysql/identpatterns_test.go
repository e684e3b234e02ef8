package mysql

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
		{`^[A-Za-z0-9.%_:/-]{1,255}$`, hostRE.MatchString},
		{`^[A-Za-z0-9_$]{1,64}$`, objectRE.MatchString},
	} {
		t.Run(c.old, func(t *testing.T) { identtest.Compare(t, c.old, c.check) })
	}
}
