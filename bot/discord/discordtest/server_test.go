package discordtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/bot/discord/discordtest"
)

func call(t *testing.T, method, url, auth, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp, m
}

// The fake answers as Discord documents: the bot token is checked, errors carry Discord's JSON
// codes, and a rate limit is a 429 with retry_after in seconds and Retry-After.
func TestTheFakeAnswersAsDiscordDocuments(t *testing.T) {
	fake := discordtest.New(t)
	post := fake.APIURL() + "/channels/300000000000000001/messages"
	bot := "Bot " + discordtest.BotToken
	if resp, _ := call(t, "POST", post, "Bot wrong", `{"content":"x"}`); resp.StatusCode != 401 {
		t.Errorf("a wrong token: %d", resp.StatusCode)
	}
	resp, m := call(t, "POST", post, bot, `{"embeds":[{"title":"x"}]}`)
	if resp.StatusCode != 200 || m["id"] == "" {
		t.Fatalf("post: %d %v", resp.StatusCode, m)
	}
	if resp, m := call(t, "PATCH", fake.APIURL()+"/channels/300000000000000001/messages/1", bot, `{"content":"y"}`); resp.StatusCode != 404 || m["code"] != float64(10008) {
		t.Errorf("edit of an unknown message: %d %v", resp.StatusCode, m)
	}
	fake.RateLimit(1, 1500*time.Millisecond)
	resp, m = call(t, "POST", post, bot, `{"content":"x"}`)
	if resp.StatusCode != 429 || m["retry_after"] != 1.5 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("rate limit: %d %v %q", resp.StatusCode, m, resp.Header.Get("Retry-After"))
	}
	if resp, _ := call(t, "POST", fake.APIURL()+"/interactions/1/tok/callback", "", `{"type":1}`); resp.StatusCode != 204 {
		t.Errorf("callback: %d", resp.StatusCode)
	}
	if resp, m := call(t, "POST", fake.APIURL()+"/interactions/1/tok/callback", "", `{"type":1}`); resp.StatusCode != 400 || m["code"] != float64(40060) {
		t.Errorf("a second callback: %d %v", resp.StatusCode, m)
	}
	if got := len(fake.Calls()); got != 6 {
		t.Errorf("recorded %d calls, want 6", got)
	}
}
