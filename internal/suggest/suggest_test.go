package suggest

import "testing"

func TestDistance(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal words are zero apart", "prod-db", "prod-db", 0},
		{"from nothing is every letter", "", "abc", 3},
		{"to nothing is every letter", "abc", "", 3},
		{"a missing letter is one", "time_zon", "time_zone", 1},
		{"an extra letter is one", "urll", "url", 1},
		{"a wrong letter is one", "prod-dc", "prod-db", 1},
		{"swapped letters are two", "prod-bd", "prod-db", 2},
		{"case counts", "Time_Zone", "time_zone", 2},
		{"the classic", "kitten", "sitting", 3},
		{"a non-ASCII letter is one edit, not its bytes", "prød-db", "prod-db", 1},
		{"letters beyond the BMP are one", "a😀b", "ab", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Distance(tt.a, tt.b); got != tt.want {
				t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Distance(tt.b, tt.a); got != tt.want {
				t.Errorf("Distance(%q, %q) = %d, want %d (it is symmetric)", tt.b, tt.a, got, tt.want)
			}
		})
	}
}
