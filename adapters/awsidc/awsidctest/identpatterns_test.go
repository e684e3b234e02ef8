package awsidctest

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
		{`^AWS4-HMAC-SHA256 Credential=([^/]+)/([0-9]{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$`, func(s string) bool { return parseAuthorization(s) != nil }},
	} {
		t.Run(c.old, func(t *testing.T) { identtest.Compare(t, c.old, c.check) })
	}
}
