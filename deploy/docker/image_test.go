package docker_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/internal/servertest"
)

// binary is accessbot built once for the package's tests, in a directory TestMain removes.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// buildBinary builds accessbot as the Dockerfile's build stage does (static, no cgo), once.
// Without the stage's -trimpath and -ldflags, so the go command reuses what other tests compiled.
func buildBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		if binary.dir, binary.err = os.MkdirTemp("", "accessbot-image-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "accessbot")
		cmd := exec.Command("go", "build", "-o", binary.path, "./cmd/accessbot")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build ./cmd/accessbot: %w\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// dockerignorePatterns reads .dockerignore: one pattern a line, comments and blanks left out.
func dockerignorePatterns(t *testing.T) []*regexp.Regexp {
	t.Helper()
	f, err := os.Open(dockerignore)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pats []*regexp.Regexp
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") {
			// Exceptions change what an earlier pattern means; this reader does not know them.
			t.Fatalf("%s: %q: teach this test exceptions before using them", dockerignore, l)
		}
		pats = append(pats, dockerignoreRegexp(l))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return pats
}

// dockerignoreRegexp turns one pattern into a regexp over slash-separated paths from the
// context's root, as Docker reads it: a leading or trailing / means nothing, * and ? stay
// within one path element, and ** spans any number of them.
func dockerignoreRegexp(p string) *regexp.Regexp {
	p = strings.Trim(filepath.ToSlash(filepath.Clean(p)), "/")
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case p[i] == '*':
			b.WriteString("[^/]*")
		case p[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// ignored reports whether docker build leaves path out: a pattern names it or a directory
// above it.
func ignored(pats []*regexp.Regexp, path string) bool {
	for p := path; p != "." && p != "/" && p != ""; p = filepath.Dir(p) {
		for _, re := range pats {
			if re.MatchString(p) {
				return true
			}
		}
	}
	return false
}

// .dockerignore keeps every file the image's build reads (the Go files and embedded files of
// every package of ours the binary links, go.mod, go.sum, and the files the final stage copies)
// and leaves out history, local databases, output, dependencies, secrets and editor files.
func TestDockerignoreKeepsWhatTheBuildNeedsAndLeavesOutTheRest(t *testing.T) {
	pats := dockerignorePatterns(t)
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`,
		"./cmd/accessbot")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		dir, err := filepath.Rel(root, fields[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fields[1:] {
			needed = append(needed, filepath.ToSlash(filepath.Join(dir, f)))
		}
	}
	if len(needed) < 50 {
		t.Fatalf("go list named only %d files: %s", len(needed), out)
	}
	for _, l := range finalStage(t) {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "COPY" && !strings.Contains(l, "--from=") {
			needed = append(needed, f[1:len(f)-1]...)
		}
	}
	for _, f := range needed {
		if ignored(pats, f) {
			t.Errorf("%s leaves out %s, which the build needs", dockerignore, f)
		}
	}
	for _, f := range []string{
		".git/HEAD", ".git/objects/pack/x.pack", "accessbot.db", "cmd/accessbot/accessbot.db-wal",
		"data/x.db-shm", "accessbot", "artifacts/webchat.png", "node_modules/axe-core/axe.min.js",
		"x/node_modules/y.js", "deploy/docker/secrets/postgres_password", ".env", "deploy/docker/.env",
		"bench/slack/results/run.txt", "storage/storage.test", "cpu.pprof", ".idea/workspace.xml",
		".vscode/settings.json", "main.go.swp", "README.md~",
	} {
		if !ignored(pats, f) {
			t.Errorf("%s lets %s into the build context", dockerignore, f)
		}
	}
}

// podman runs podman with its own storage under root, so the test neither reads nor leaves
// images in the machine's; vfs storage and cgroupfs work where overlay mounts and systemd do
// not (a container in a container), and runc where crun refuses cgroup v1 hierarchies.
type podman struct {
	t    *testing.T
	root string
	// global are the flags before the subcommand.
	global []string
	// limits are --ulimit flags for containers: what podman sets by default (nofile 1048576)
	// is more than a process without CAP_SYS_RESOURCE may raise its limit to.
	limits []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		servertest.Handle(t, servertest.Unavailable{Msg: "podman is not installed (.ci/run installs it): the image is not built"})
	}
	root, err := servertest.MakeDir("podman")
	if err != nil {
		t.Fatal(err)
	}
	p := &podman{t: t, root: root, global: []string{
		"--root", filepath.Join(root, "storage"), "--runroot", filepath.Join(root, "run"),
		"--tmpdir", filepath.Join(root, "tmp"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
	}}
	if _, err := exec.LookPath("runc"); err == nil {
		p.global = append(p.global, "--runtime", "runc")
	}
	var nofile, nproc syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err == nil {
		p.limits = append(p.limits, "--ulimit", fmt.Sprintf("nofile=%d:%d", nofile.Cur, nofile.Cur))
	}
	// RLIMIT_NPROC = 6 on Linux; syscall does not name it. Below the current limit: some
	// sandboxes refuse even setting it to its current value.
	if err := syscall.Getrlimit(6, &nproc); err == nil {
		n := min(nproc.Cur, 4096)
		p.limits = append(p.limits, "--ulimit", fmt.Sprintf("nproc=%d:%d", n, n))
	}
	t.Cleanup(func() {
		// Only what lives under root: `system reset` would also drop the machine's networks.
		p.run(30*time.Second, "rm", "--all", "--force")
		p.run(30*time.Second, "rmi", "--all", "--force")
		os.RemoveAll(root)
	})
	return p
}

// run runs one podman command within d and returns its combined output and error.
func (p *podman) run(d time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", append(append([]string(nil), p.global...), args...)...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("podman %s: no answer within %s", args[0], d)
	}
	return string(out), err
}

// must runs one podman command and fails the test when it fails.
func (p *podman) must(d time.Duration, args ...string) string {
	p.t.Helper()
	out, err := p.run(d, args...)
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// buildOutputs are the build stage's files that the final stage copies, and where this test
// takes them from; a Dockerfile that copies anything else from the build stage must be taught
// here, so the image under test stays the Dockerfile's.
func buildOutputs(bin string) map[string]string {
	return map[string]string{
		"/out/accessbot":                     bin,
		"/out/data":                          "", // an empty directory
		"/etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt",
	}
}

// stageContext writes into dir a build context and Containerfile for the Dockerfile's final
// stage, unchanged but for its COPY --from=build sources, which come from buildOutputs.
func stageContext(t *testing.T, dir, bin string) {
	t.Helper()
	outputs := buildOutputs(bin)
	var file []string
	for _, l := range finalStage(t) {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "COPY" {
			file = append(file, l)
			continue
		}
		var opts, srcs []string
		fromBuild := false
		for _, a := range f[1 : len(f)-1] {
			switch {
			case a == "--from=build":
				fromBuild = true
			case strings.HasPrefix(a, "--"):
				opts = append(opts, a)
			default:
				srcs = append(srcs, a)
			}
		}
		for i, src := range srcs {
			staged := filepath.Join(dir, filepath.FromSlash(src))
			from := filepath.Join(repoRoot, filepath.FromSlash(src))
			if fromBuild {
				var ok bool
				if from, ok = outputs[src]; !ok {
					t.Fatalf("the final stage copies %s from the build stage, which this test does not make: add it to buildOutputs", src)
				}
				srcs[i] = "build" + src
				staged = filepath.Join(dir, "build", filepath.FromSlash(src))
			}
			copyFile(t, from, staged)
		}
		file = append(file, strings.Join(append(append(append([]string{"COPY"}, opts...), srcs...), f[len(f)-1]), " "))
	}
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(strings.Join(file, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyFile copies a regular file, keeping its mode, or makes an empty directory when from is "".
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if from == "" {
		if err := os.MkdirAll(to, 0o755); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(from)
	if err != nil {
		t.Fatalf("stage the build context: %v", err)
	}
	if !st.Mode().IsRegular() {
		t.Fatalf("stage the build context: %s is not a regular file", from)
	}
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, st.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// running is a container of the image under test, published on a port of 127.0.0.1.
type running struct {
	t      *testing.T
	p      *podman
	name   string
	base   string
	client *http.Client
}

// start runs image with env and waits until GET /readyz answers 200 from the host.
func start(t *testing.T, p *podman, image, name string, env ...string) *running {
	t.Helper()
	port, err := servertest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"run", "--detach", "--name", name, "--publish", fmt.Sprintf("127.0.0.1:%d:8080", port)}, p.limits...)
	for _, e := range env {
		args = append(args, "--env", e)
	}
	p.must(time.Minute, append(args, image)...)
	t.Cleanup(func() { p.run(30*time.Second, "rm", "--force", "--time", "1", name) })
	// The web chat's URL sets a cookie and redirects to drop its token from the address bar.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &running{t: t, p: p, name: name, base: fmt.Sprintf("http://127.0.0.1:%d", port),
		client: &http.Client{Timeout: 2 * time.Second, Jar: jar}}
	began := time.Now()
	for {
		code, _, err := c.get("/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Since(began) > 30*time.Second {
			t.Fatalf("GET /readyz from the host: %d %v after 30s; the container's log:\n%s", code, err, c.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%s ready %s after podman run", name, time.Since(began).Round(time.Millisecond))
	return c
}

// logs returns what the container wrote so far.
func (c *running) logs() string {
	out, _ := c.p.run(10*time.Second, "logs", c.name)
	return out
}

// get fetches a path (or a whole URL) and returns the status and the start of the body.
func (c *running) get(path string) (int, string, error) {
	u := path
	if strings.HasPrefix(path, "/") {
		u = c.base + path
	}
	resp, err := c.client.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), nil
}

// post sends v as JSON to path and fails the test unless it answers 200.
func (c *running) post(path string, v any) string {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.client.Post(c.base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		c.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, answer)
	}
	return string(answer)
}

// waitActiveGrants waits until /metrics shows n active grants.
func (c *running) waitActiveGrants(n int, after string) {
	c.t.Helper()
	re := regexp.MustCompile(`(?m)^accessbot_active_grants ` + strconv.Itoa(n) + `$`)
	for began := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if _, metrics, err := c.get("/metrics"); err == nil && re.MatchString(metrics) {
			c.t.Logf("%d active %s after %s", n, time.Since(began).Round(time.Millisecond), after)
			return
		}
		if time.Since(began) > 15*time.Second {
			c.t.Fatalf("not %d active grants 15s after %s; the container's log:\n%s", n, after, c.logs())
		}
	}
}

// stop stops the container and fails the test if its log has an error.
func (c *running) stop() {
	c.t.Helper()
	c.p.must(30*time.Second, "stop", "--time", "10", c.name)
	if out := c.logs(); strings.Contains(out, `"level":"error"`) {
		c.t.Errorf("errors in the container's log:\n%s", out)
	}
}

// The image, as the Dockerfile's final stage makes it, runs its own config with no argument and
// no environment: it becomes ready, the web chat answers only with the URL its log gives, a
// request is granted, the image's health check passes, and `config validate` accepts the config
// in place. With the two variables set, its webhook example grants through the operator's
// endpoint, signed with the operator's secret.
func TestTheImageRunsItsDefaultConfigAndPassesItsHealthCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a container image")
	}
	p := newPodman(t)
	ctxDir := t.TempDir()
	stageContext(t, ctxDir, buildBinary(t))
	image := "localhost/accessbot-test:" + strconv.Itoa(os.Getpid())
	p.must(2*time.Minute, "build", "--format", "docker", "--network", "none", "-t", image,
		"-f", filepath.Join(ctxDir, "Containerfile"), ctxDir)

	var health struct{ Test []string }
	if err := json.Unmarshal([]byte(p.must(time.Minute, "image", "inspect", "--format", "{{json .HealthCheck}}", image)), &health); err != nil {
		t.Fatalf("podman image inspect: %v", err)
	}
	if got := strings.Join(health.Test, " "); got != "CMD "+imageBinary+" healthcheck" {
		t.Errorf("the image's health check is %q, want CMD %s healthcheck", got, imageBinary)
	}

	t.Run("as it is", func(t *testing.T) {
		c := start(t, p, image, fmt.Sprintf("accessbot-test-%d", os.Getpid()))
		// The web chat is on, and keeps out whoever lacks the URL the log gives.
		if code, _, err := c.get("/chat/"); code != http.StatusForbidden {
			t.Errorf("GET /chat/ without the token: %d %v, want 403", code, err)
		}
		chatURL := regexp.MustCompile(`"url":"(http://[^"]+token=[^"]+)"`).FindStringSubmatch(c.logs())
		if chatURL == nil {
			t.Fatalf("no \"web chat: open this URL\" line with a token in the log:\n%s", c.logs())
		}
		u, err := url.Parse(chatURL[1])
		if err != nil {
			t.Fatal(err)
		}
		if u.Host != "127.0.0.1:8080" {
			t.Errorf("the log sends browsers to %s, want 127.0.0.1:8080 (where -p 8080:8080 publishes)", u.Host)
		}
		u.Host = strings.TrimPrefix(c.base, "http://")
		if code, _, err := c.get(u.String()); code != http.StatusOK {
			t.Errorf("GET the web chat's URL from the log: %d %v, want 200", code, err)
		}

		// Approved by the sandbox's rule and granted by the noop adapter: the request, the
		// grant and their audit events are written to /data by the image's user.
		c.post("/chat/api/command", map[string]string{"as": "alice", "text": "/access request sandbox 5m trying the image"})
		c.waitActiveGrants(1, "/access request sandbox 5m")

		if out, err := p.run(30*time.Second, "healthcheck", "run", c.name); err != nil {
			// `podman exec` shows what the command said; the health check only says "unhealthy".
			said, _ := p.run(30*time.Second, "exec", c.name, imageBinary, "healthcheck")
			t.Errorf("podman healthcheck run (the image's HEALTHCHECK, `accessbot healthcheck`, which must exit 0 when /readyz answers 200): %v\n%s\naccessbot healthcheck in the container said:\n%s", err, out, said)
		}
		validate := append(append([]string{"run", "--rm", "--network", "none"}, p.limits...), image, "config", "validate")
		if out, err := p.run(time.Minute, validate...); err != nil {
			t.Errorf("accessbot config validate in the image: %v\n%s", err, out)
		}
		c.stop()
	})

	t.Run("with your webhook", func(t *testing.T) {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			t.Fatal(err)
		}
		key := hex.EncodeToString(secret)
		calls := make(chan string, 10)
		// The container reaches the host at host.containers.internal: listen on every
		// interface, and answer only what the secret signed.
		ln, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err := webhook.Verify([]byte(key), r.Header.Get(webhook.HeaderTimestamp), body,
				r.Header.Get(webhook.HeaderSignature), time.Now(), 5*time.Minute); err != nil || r.URL.Path != "/staging-db" {
				http.Error(w, "refused", http.StatusUnauthorized)
				return
			}
			var call struct {
				Action   string           `json:"action"`
				Resource string           `json:"resource"`
				Subject  adapters.Subject `json:"subject"`
			}
			if err := json.Unmarshal(body, &call); err != nil {
				http.Error(w, "bad body", http.StatusBadRequest)
				return
			}
			calls <- call.Action + " " + call.Resource + " " + call.Subject.Account
			w.WriteHeader(http.StatusNoContent)
		}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		port := ln.Addr().(*net.TCPAddr).Port

		c := start(t, p, image, fmt.Sprintf("accessbot-test-webhook-%d", os.Getpid()),
			fmt.Sprintf("STAGING_WEBHOOK_URL=http://host.containers.internal:%d/staging-db", port),
			"STAGING_WEBHOOK_SECRET="+key, "WEB_TOKEN="+key)
		if strings.Contains(c.logs(), key) {
			t.Error("the container's log shows the webhook secret")
		}
		c.client.Transport = bearer{key}
		c.post("/chat/api/command", map[string]string{"as": "alice", "text": "/access request staging-db 30m INC-42 checking a migration"})
		var state struct {
			Messages []struct {
				View *struct {
					Buttons []struct {
						ActionID string `json:"action_id"`
						Value    string `json:"value"`
					} `json:"buttons"`
				} `json:"view"`
			} `json:"messages"`
		}
		request := ""
		for began := time.Now(); request == ""; time.Sleep(100 * time.Millisecond) {
			_, body, err := c.get("/chat/api/state?as=carol")
			if err == nil && json.Unmarshal([]byte(body), &state) == nil {
				for _, m := range state.Messages {
					if m.View == nil {
						continue
					}
					for _, b := range m.View.Buttons {
						if b.ActionID == "approve" {
							request = b.Value
						}
					}
				}
			}
			if request == "" && time.Since(began) > 10*time.Second {
				t.Fatalf("no Approve button for carol 10s after the request: %v %s", err, body)
			}
		}
		c.post("/chat/api/action", map[string]string{"as": "carol", "channel": "approvals", "action": "approve", "value": request})
		select {
		case got := <-calls:
			if got != "grant staging-db alice" {
				t.Errorf("the endpoint got %q, want a grant of staging-db to alice", got)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("the endpoint got no signed grant 15s after the approval; the container's log:\n%s", c.logs())
		}
		c.waitActiveGrants(1, "the approval")
		c.stop()
	})
}

// bearer adds the web chat's token to every request, as scripts send it.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}
