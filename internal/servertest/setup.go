package servertest

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"github.com/accessbot/accessbot/internal/tlstest"
)

// Start starts a server of t's own in a directory made by mkdir, and stops it and removes the
// directory when t ends. A missing server skips or fails t as Handle says.
func Start[S interface{ Stop() }](t testing.TB, mkdir func() (string, error), start func(dir string) (S, error)) S {
	t.Helper()
	dir, err := mkdir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := start(dir)
	if err != nil {
		Handle(t, err)
	}
	// Registered last, so it runs first: the server stops before its directory goes.
	t.Cleanup(s.Stop)
	return s
}

// TempDir returns a mkdir for Start that makes the directory under $TMPDIR, for servers whose
// files must not go to ParentDir.
func TempDir(prefix string) func() (string, error) {
	return func() (string, error) {
		dir, err := os.MkdirTemp("", prefix+"-")
		if err != nil {
			return "", fmt.Errorf("%s: make temp dir: %w", prefix, err)
		}
		return dir, nil
	}
}

// IsExecutable reports whether p is a regular file someone may execute.
func IsExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// RandomHex returns n random bytes in hex: passwords for a server's accounts, which need no
// quoting in any config file.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("servertest: random: %v", err)) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// ClientTLS returns a client TLS config that trusts the CA of a server's files, or nil for a
// server without TLS.
func ClientTLS(files *tlstest.Files) *tls.Config {
	if files == nil {
		return nil
	}
	cfg, err := tlstest.ClientConfig(files.CAFile)
	if err != nil {
		panic(err) // the files were written by tlstest
	}
	return cfg
}
