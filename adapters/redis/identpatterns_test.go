package redis

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
		{`^(~|%(R|W|RW|WR)~|&)[\x21-\x7e]{1,256}$`, isPatternRule},
		{`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`, accountPattern.MatchString},
		{`^[A-Za-z0-9_-]{1,64}$`, grantIDPattern.MatchString},
		{`^[A-Za-z0-9_.:-]{1,32}$`, prefixPattern.MatchString},
		{`^[A-Za-z0-9_.:-]{1,32}[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}@[A-Za-z0-9_-]{1,64}$`, userPattern.MatchString},
		{`^[A-Za-z0-9_.:@-]{1,128}$`, botPattern.MatchString},
	} {
		t.Run(c.old, func(t *testing.T) { identtest.Compare(t, c.old, c.check) })
	}
}
