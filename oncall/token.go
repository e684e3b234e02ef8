package oncall

// Token is a provider's API key. It prints as [redacted]: formatting, logging or marshaling a
// client's options never shows it; Reveal is for the one Authorization header.
type Token string

func (Token) String() string   { return "[redacted]" }
func (Token) GoString() string { return `"[redacted]"` }

// MarshalJSON keeps the key out of JSON.
func (Token) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Reveal returns the key itself.
func (t Token) Reveal() string { return string(t) }
