package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExpandReplacesReferences(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "crlf"), []byte("windows-secret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PASS": "s3cr3t", "EMPTY": ""}
	tests := []struct {
		in, want string
		secrets  []string
	}{
		{"no references", "no references", nil},
		{"${PASS}", "s3cr3t", []string{"s3cr3t"}},
		{"postgres://bot:${PASS}@db/x", "postgres://bot:s3cr3t@db/x", []string{"s3cr3t"}},
		{"${UNSET:-fallback}", "fallback", []string{"fallback"}},
		{"${EMPTY:-fallback}", "fallback", []string{"fallback"}},
		{"${EMPTY}", "", nil},
		{"${PASS:-fallback}", "s3cr3t", []string{"s3cr3t"}},
		{"${file:token}", "file-secret", []string{"file-secret"}},
		{"${file:" + filepath.Join(dir, "token") + "}", "file-secret", []string{"file-secret"}},
		{"${file:crlf}", "windows-secret", []string{"windows-secret"}},
		{"$${PASS}", "${PASS}", nil},
		{"cost: $5", "cost: $5", nil},
	}
	for _, tt := range tests {
		x := &expander{env: lookup(env), dir: dir}
		got, _, err := x.expand(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if strings.Join(x.secrets, ",") != strings.Join(tt.secrets, ",") {
			t.Errorf("expand(%q) secrets = %q, want %q", tt.in, x.secrets, tt.secrets)
		}
	}
}

func TestExpandErrorsNameTheReferenceNotTheValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"${MISSING}", "environment variable MISSING is not set"},
		{"${PASS", "unclosed ${"},
		{"${}", "is not a valid reference"},
		{"${bad name}", "is not a valid reference"},
		{"${file:}", "needs a path"},
		{"${file:/does/not/exist}", "${file:/does/not/exist}: open /does/not/exist"},
	}
	for _, tt := range tests {
		x := &expander{env: lookup(map[string]string{"PASS": "s3cr3t"}), dir: t.TempDir()}
		_, _, err := x.expand(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("expand(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("expand(%q) error shows a secret: %v", tt.in, err)
		}
	}
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}
