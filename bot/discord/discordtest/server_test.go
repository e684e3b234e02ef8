package discordtest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
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

// multipartPost posts a message with one file part named part, as Discord's uploads are sent.
func multipartPost(t *testing.T, url, payload, part, filename string, data []byte) (*http.Response, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("payload_json", payload)
	fw, _ := w.CreateFormFile(part, filename)
	_, _ = fw.Write(data)
	_ = w.Close()
	req, _ := http.NewRequest("POST", url, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bot "+discordtest.BotToken)
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

// The fake refuses what Discord refuses about a message's shape: an embed over its documented
// limits, and a file part that is not files[n] with an attachment of id n in payload_json.
func TestTheFakeRefusesMessagesDiscordWouldRefuse(t *testing.T) {
	fake := discordtest.New(t)
	post := fake.APIURL() + "/channels/300000000000000001/messages"
	bot := "Bot " + discordtest.BotToken
	long := strings.Repeat("x", 1025)
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"a field value of 1,024 characters", `{"embeds":[{"fields":[{"name":"a","value":"` + long[:1024] + `"}]}]}`, true},
		{"a field value of 1,025 characters", `{"embeds":[{"fields":[{"name":"a","value":"` + long + `"}]}]}`, false},
		{"a description of 4,097 characters", `{"embeds":[{"description":"` + strings.Repeat("x", 4097) + `"}]}`, false},
		{"an embed of more than 6,000 characters", `{"embeds":[{"description":"` + strings.Repeat("x", 4000) +
			`","fields":[{"name":"a","value":"` + long[:1024] + `"},{"name":"b","value":"` + long[:1024] + `"}]}]}`, false},
	}
	for _, tt := range tests {
		resp, m := call(t, "POST", post, bot, tt.body)
		if ok := resp.StatusCode == 200; ok != tt.ok || (!ok && m["code"] != float64(50035)) {
			t.Errorf("%s: %d %v, want accepted %v", tt.name, resp.StatusCode, m, tt.ok)
		}
	}

	file := []byte("apiVersion: v1\n")
	withAttachment := `{"embeds":[{"title":"x"}],"attachments":[{"id":0,"filename":"a.kubeconfig"}]}`
	if resp, m := multipartPost(t, post, withAttachment, "files[0]", "a.kubeconfig", file); resp.StatusCode != 200 {
		t.Fatalf("a file with its attachment: %d %v", resp.StatusCode, m)
	}
	if resp, _ := multipartPost(t, post, `{"embeds":[{"title":"x"}]}`, "files[0]", "a.kubeconfig", file); resp.StatusCode != 400 {
		t.Errorf("a file without an attachment in payload_json: %d, want 400", resp.StatusCode)
	}
	if resp, _ := multipartPost(t, post, withAttachment, "file", "a.kubeconfig", file); resp.StatusCode != 400 {
		t.Errorf("a file part not named files[n]: %d, want 400", resp.StatusCode)
	}
	msgs := fake.Messages("300000000000000001")
	last := msgs[len(msgs)-1]
	if !bytes.Equal(last.Files["a.kubeconfig"], file) {
		t.Errorf("the message holds files %v, want a.kubeconfig", last.Files)
	}
}
