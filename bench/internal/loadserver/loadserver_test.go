package loadserver_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/accessbot/accessbot/bench/internal/loadserver"
)

func TestServeAnswersWithTheHandlerUntilStopped(t *testing.T) {
	url, stop, err := loadserver.Serve(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "pong")
	}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != "pong" {
		t.Errorf("answer %q, want pong", b)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if resp, err := http.Get(url + "/ping"); err == nil {
		_ = resp.Body.Close()
		t.Error("the server still answers after stop")
	}
}
