package app

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// NewLogger returns accessbot's logger: JSON lines, or a human-readable console format when
// format is "console", or "auto" and w is a terminal. Every line passes through a redactor that
// replaces the configured secret values, as a last line of defence behind code that never logs
// them in the first place.
func NewLogger(w io.Writer, level, format string, secrets []string) (zerolog.Logger, error) {
	lvl := zerolog.InfoLevel
	if level != "" {
		var err error
		if lvl, err = zerolog.ParseLevel(strings.ToLower(level)); err != nil {
			return zerolog.Nop(), err
		}
	}
	out := io.Writer(NewRedactor(w, secrets))
	if format == "console" || (format == "" || format == "auto") && isTerminal(w) {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// Redactor is an io.Writer that replaces known secret values with "[redacted]".
type Redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte
}

// minSecretLen keeps short values (a "1", a "true") from blanking out ordinary words.
const minSecretLen = 6

// NewRedactor wraps w. Values shorter than six bytes are not redacted.
func NewRedactor(w io.Writer, secrets []string) *Redactor {
	r := &Redactor{w: w}
	uniq := map[string]bool{}
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		// A JSON log line carries the value escaped; redact both spellings.
		quoted, _ := json.Marshal(s)
		for _, form := range []string{s, string(quoted[1 : len(quoted)-1])} {
			if !uniq[form] {
				uniq[form] = true
				r.secrets = append(r.secrets, []byte(form))
			}
		}
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

var redacted = []byte("[redacted]")

// Write writes p with every secret replaced. It reports len(p) on success so callers that check
// the count are not confused by the change in length.
func (r *Redactor) Write(p []byte) (int, error) {
	out := p
	for _, s := range r.secrets {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, redacted)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
