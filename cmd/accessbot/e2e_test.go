package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds accessbot once for the end-to-end tests of this package.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "accessbot")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeRunsOnTheExampleConfig is the README's first command, as a newcomer runs it: the
// example config, SQLite in the working directory, then Ctrl-C.
func TestServeRunsOnTheExampleConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	work := t.TempDir()
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	cfg := strings.Replace(string(example), `listen: "127.0.0.1:8080"`, `listen: "`+addr+`"`, 1)
	if cfg == string(example) {
		t.Fatal("config.example.yaml no longer listens on 127.0.0.1:8080; update this test and the README")
	}
	if err := os.WriteFile(filepath.Join(work, "config.example.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", "--config", "config.example.yaml")
	cmd.Dir = work
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + work}
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never became ready\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(work, "accessbot.db")); err != nil {
		t.Errorf("no SQLite database in the working directory: %v", err)
	}

	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve did not exit cleanly on Ctrl-C: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not stop within 15s of Ctrl-C\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "accessbot serving") {
		t.Errorf("the log never said it was serving:\n%s", logs.String())
	}

	// The database it left verifies.
	verify := exec.Command(bin, "audit", "verify", "--config", "config.example.yaml")
	verify.Dir = work
	out, err := verify.CombinedOutput()
	// At least the config.loaded event of this start is in the log.
	if err != nil || !strings.Contains(string(out), "audit log intact") || strings.Contains(string(out), ": 0 events") {
		t.Fatalf("audit verify after serve: %v\n%s", err, out)
	}
}
