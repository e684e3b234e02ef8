package digest

import (
	"slices"
	"testing"
)

// A frequent type missing from readOrder would never be read: its events would be left out of
// the digest without an error.
func TestEveryFrequentTypeIsReadOnce(t *testing.T) {
	for typ := range briefTypes {
		if n := len(slices.DeleteFunc(slices.Clone(readOrder), func(s string) bool { return s != typ })); n != 1 {
			t.Errorf("%s is in readOrder %d times, want once", typ, n)
		}
	}
	if len(readOrder) != len(briefTypes)+1 {
		t.Errorf("readOrder has %d entries for %d types and the counts", len(readOrder), len(briefTypes))
	}
}
