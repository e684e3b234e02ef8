package deploy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/app"
	"github.com/accessbot/accessbot/internal/clock"
)

// series is one scraped sample: a metric name and its labels.
type series struct {
	name   string
	labels map[string]string
}

// exposition is what one scrape of /metrics showed.
type exposition struct {
	// names are the sample names (a histogram's _bucket, _sum and _count included).
	names map[string]bool
	// samples are every sample's name and labels.
	samples []series
}

// scrapeServe starts accessbot as `serve` does, on a SQLite database, with the web chat (the
// outbox's platform), a file audit sink and an exec resource, and takes one grant through its
// life (request, approval, activation, expiry, revocation) so that the metrics counted per
// call have samples; then it scrapes /metrics.
func scrapeServe(t *testing.T) (exposition, string) {
	t.Helper()
	dir := t.TempDir()
	yaml := `
storage: {driver: sqlite, dsn: "` + filepath.Join(dir, "accessbot.db") + `"}
log: {level: error, format: json}
admins: {users: ["ops@example.com"]}
groups:
  leads: ["bob@example.com"]
web: {enabled: true}
audit_sinks:
  - {name: siem-file, type: file, path: "` + filepath.Join(dir, "siem.jsonl") + `"}
resources:
  - name: scratch
    adapter: {type: exec, command: /bin/true}
    policy: {approvers: [leads], max_duration: 2h}
`
	cfg, err := config.Parse(filepath.Join(dir, "accessbot.yaml"), []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, zerolog.Nop(), app.Options{Clock: clk, Listener: ln})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-runErr
		a.Close()
	})

	alice := grants.Actor{ID: "alice@example.com", Email: "alice@example.com", Name: "Alice", Platform: "web", PlatformID: "alice"}
	bob := grants.Actor{ID: "bob@example.com", Email: "bob@example.com", Name: "Bob", Platform: "web", PlatformID: "bob"}
	out, err := a.Service.Request(ctx, alice, grants.RequestInput{Resource: "scratch", Duration: time.Hour, Reason: "INC-42"})
	if err != nil {
		t.Fatal(err)
	}
	approved, err := a.Service.Approve(ctx, bob, out.Request.ID)
	if err != nil || approved.Grant == nil {
		t.Fatalf("approve: %v (grant %v)", err, approved.Grant)
	}
	waitGrant(t, a, approved.Grant.ID, grants.GrantActive)
	clk.Advance(time.Hour + time.Second)
	waitGrant(t, a, approved.Grant.ID, grants.GrantRevoked)

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, body)
	}
	if p := os.Getenv("ACCESSBOT_ARTIFACTS"); p != "" {
		_ = os.MkdirAll(p, 0o755)
		_ = os.WriteFile(filepath.Join(p, "metrics.txt"), body, 0o644)
	}
	return parseExposition(t, string(body)), string(body)
}

// waitGrant waits up to 10 s for the grant to reach state.
func waitGrant(t *testing.T, a *app.App, id string, state grants.GrantState) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, err := a.Service.GetGrant(context.Background(), id)
		if err == nil && g.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("grant %s did not become %s: %+v %v", id, state, g, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parseExposition reads Prometheus' text format: each sample line is name{l="v",...} value.
func parseExposition(t *testing.T, text string) exposition {
	t.Helper()
	ex := exposition{names: map[string]bool{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := series{labels: map[string]string{}}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			t.Fatalf("exposition line without a value: %q", line)
		}
		s.name = line[:end]
		if line[end] == '{' {
			rest := line[end+1:]
			for !strings.HasPrefix(rest, "}") {
				eq := strings.Index(rest, `="`)
				if eq < 0 {
					t.Fatalf("bad labels in %q", line)
				}
				key := strings.TrimPrefix(rest[:eq], ",")
				rest = rest[eq+2:]
				var val strings.Builder
				for i := 0; ; i++ {
					if i >= len(rest) {
						t.Fatalf("unterminated label value in %q", line)
					}
					if rest[i] == '\\' && i+1 < len(rest) {
						val.WriteByte(rest[i+1])
						i++
						continue
					}
					if rest[i] == '"' {
						rest = rest[i+1:]
						break
					}
					val.WriteByte(rest[i])
				}
				s.labels[key] = val.String()
				rest = strings.TrimPrefix(rest, ",")
			}
		}
		ex.names[s.name] = true
		ex.samples = append(ex.samples, s)
	}
	return ex
}
