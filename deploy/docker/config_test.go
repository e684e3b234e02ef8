package docker_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	_ "github.com/accessbot/accessbot/adapters/exec"
	_ "github.com/accessbot/accessbot/adapters/noop"
	_ "github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/config"
)

// Files under test, relative to this package.
const (
	imageConfig    = "accessbot.yaml"
	postgresConfig = "accessbot-postgres.yaml"
	composeFile    = "compose.yaml"
	dockerfile     = "../../Dockerfile"
	dockerignore   = "../../.dockerignore"
	repoRoot       = "../.."
)

// The image's binary: the only program a resource can run in a FROM scratch image.
const imageBinary = "/usr/local/bin/accessbot"

// noEnv is an environment with nothing set: `docker run image` passes none.
func noEnv(string) (string, bool) { return "", false }

// The default config must run in the image as it is: on every interface, its database on the
// volume, a chat that needs no secret, and no resource that needs a program the image lacks.
func TestTheImageConfigIsValidInAnEmptyEnvironmentAndRunsInScratch(t *testing.T) {
	data, err := os.ReadFile(imageConfig)
	if err != nil {
		t.Fatal(err)
	}
	// Under its path in the image: nothing in it may be relative to where it was written.
	c, err := config.Parse("/etc/accessbot/accessbot.yaml", data, noEnv)
	if err != nil {
		t.Fatalf("the image's config does not validate:\n%v", err)
	}
	if c.Server.Listen != "0.0.0.0:8080" {
		t.Errorf("server.listen = %q, want 0.0.0.0:8080 (the port is published from outside the container)", c.Server.Listen)
	}
	if c.Storage.Driver != "sqlite" || c.Storage.DSN != "/data/accessbot.db" {
		t.Errorf("storage = %s %q, want sqlite /data/accessbot.db (the image's volume)", c.Storage.Driver, c.Storage.DSN)
	}
	if !c.Web.Enabled || !c.Web.AllowRemote || c.Web.Token != "" {
		t.Errorf("web chat: enabled %v, allow_remote %v, token set %v; want on, reachable through the published port, with a random token when WEB_TOKEN is unset",
			c.Web.Enabled, c.Web.AllowRemote, c.Web.Token != "")
	}
	if c.Slack.IsEnabled() || c.Discord.IsEnabled() {
		t.Error("Slack or Discord is on: they need secrets that `docker run image` does not have")
	}
	res, err := c.BuildResources(zerolog.Nop())
	if err != nil {
		t.Fatalf("build the resources: %v", err)
	}
	types := map[string]bool{}
	for _, r := range res {
		types[r.AdapterType] = true
	}
	if !types["noop"] || !types["webhook"] {
		t.Errorf("adapters %v: want a noop resource that works as it is and a webhook example", types)
	}
	for _, r := range c.Resources {
		if r.Adapter.Type == "exec" {
			t.Errorf("resource %s runs a program, and the scratch image has none but %s", r.Name, imageBinary)
		}
	}
}

// The same config through the command people run, outside the image.
func TestAccessbotConfigValidateAcceptsTheImageConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	cmd := exec.Command(bin, "config", "validate", "--config", imageConfig)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("accessbot config validate: %v\n%s", err, out)
	}
}

// composeDoc is what the tests read of compose.yaml.
type composeDoc struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Secrets     []string          `yaml:"secrets"`
		Configs     []struct {
			Source string `yaml:"source"`
			Target string `yaml:"target"`
		} `yaml:"configs"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Ports []string `yaml:"ports"`
	} `yaml:"services"`
	Configs map[string]struct {
		File string `yaml:"file"`
	} `yaml:"configs"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

func readCompose(t *testing.T) composeDoc {
	t.Helper()
	data, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc composeDoc
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s is not YAML compose can read: %v", composeFile, err)
	}
	return doc
}

// The replicas of compose.yaml.
var replicas = []string{"accessbot-1", "accessbot-2"}

// compose.yaml runs PostgreSQL and two replicas that share it, each started only once the
// database is healthy, each checked by the image's health command, and no secret in the file.
func TestComposeRunsTwoHealthCheckedReplicasOnAHealthyPostgres(t *testing.T) {
	doc := readCompose(t)
	pg, ok := doc.Services["postgres"]
	if !ok {
		t.Fatal("no postgres service")
	}
	if pg.Healthcheck == nil || !slices.Contains(pg.Healthcheck.Test, "pg_isready") {
		t.Errorf("postgres health check %+v: want pg_isready, which depends_on waits for", pg.Healthcheck)
	}
	if pg.Environment["POSTGRES_PASSWORD"] != "" || pg.Environment["POSTGRES_PASSWORD_FILE"] != "/run/secrets/postgres_password" {
		t.Errorf("postgres password: want POSTGRES_PASSWORD_FILE from the postgres_password secret, got %v", pg.Environment)
	}
	for _, name := range replicas {
		s, ok := doc.Services[name]
		if !ok {
			t.Errorf("no %s service", name)
			continue
		}
		if s.Image != "accessbot" || !slices.Equal(s.Command, []string{"serve"}) {
			t.Errorf("%s: image %q command %v, want accessbot serve", name, s.Image, s.Command)
		}
		if s.DependsOn["postgres"].Condition != "service_healthy" {
			t.Errorf("%s: depends_on postgres %+v, want condition service_healthy", name, s.DependsOn["postgres"])
		}
		if s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test, []string{"CMD", imageBinary, "healthcheck"}) {
			t.Errorf("%s: health check %+v, want [CMD %s healthcheck]", name, s.Healthcheck, imageBinary)
		}
		if len(s.Configs) != 1 || s.Configs[0].Target != "/etc/accessbot/accessbot.yaml" ||
			doc.Configs[s.Configs[0].Source].File != "./"+postgresConfig {
			t.Errorf("%s: configs %+v, want ./%s at /etc/accessbot/accessbot.yaml", name, s.Configs, postgresConfig)
		}
		for k, v := range s.Environment {
			if !regexp.MustCompile(`^\$\{[A-Z_]+:\?[^}]*\}$`).MatchString(v) {
				t.Errorf("%s: environment %s = %q: want a variable the operator must set (${NAME:?why}), never a value in the file", name, k, v)
			}
		}
	}
	for name, s := range doc.Secrets {
		if s.File != "./secrets/"+name {
			t.Errorf("secret %s from %q, want ./secrets/%s (ignored by git and docker build)", name, s.File, name)
		}
	}
	if len(doc.Services["accessbot-1"].Ports) == 0 || slices.Equal(doc.Services["accessbot-1"].Ports, doc.Services["accessbot-2"].Ports) {
		t.Errorf("the replicas publish %v and %v: want a port each", doc.Services["accessbot-1"].Ports, doc.Services["accessbot-2"].Ports)
	}
}

var (
	envRef  = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)
	fileRef = regexp.MustCompile(`\$\{file:/run/secrets/([^}]+)\}`)
)

// accessbot-postgres.yaml validates in a replica: with the variables compose sets and the
// secret files compose mounts, and with nothing else (every reference is one compose provides).
func TestThePostgresConfigIsValidWithWhatComposeGivesEachReplica(t *testing.T) {
	doc := readCompose(t)
	data, err := os.ReadFile(postgresConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range replicas {
		t.Run(name, func(t *testing.T) {
			s := doc.Services[name]
			env := map[string]string{}
			for k := range s.Environment {
				env[k] = "https://accessbot.example.com"
			}
			env["SLACK_APPROVER_CHANNEL"] = "C0123ABCDEF"
			for _, m := range envRef.FindAllStringSubmatch(string(data), -1) {
				if _, ok := s.Environment[m[1]]; !ok && m[2] == "" {
					t.Errorf("%s reads ${%s}, which compose does not set for %s", postgresConfig, m[1], name)
				}
			}
			// Compose's /run/secrets/ here is a temporary directory with the same names.
			secrets := t.TempDir()
			for _, m := range fileRef.FindAllStringSubmatch(string(data), -1) {
				if !slices.Contains(s.Secrets, m[1]) {
					t.Errorf("%s reads the secret %s, which compose does not mount in %s", postgresConfig, m[1], name)
				}
				val := "0123456789abcdef0123456789abcdef\n"
				if m[1] == "slack_bot_token" {
					val = "xoxb-1234-5678-" + val
				}
				if err := os.WriteFile(filepath.Join(secrets, m[1]), []byte(val), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			local := strings.ReplaceAll(string(data), "${file:/run/secrets/", "${file:"+secrets+"/")
			c, err := config.Parse("/etc/accessbot/accessbot.yaml", []byte(local), func(k string) (string, bool) {
				v, ok := env[k]
				return v, ok
			})
			if err != nil {
				t.Fatalf("%s does not validate with compose's environment and secrets:\n%v", postgresConfig, err)
			}
			if c.Storage.Driver != "postgres" || !strings.Contains(c.Storage.DSN, "@postgres:5432/") {
				t.Errorf("storage %s, want postgres at the compose service postgres:5432", c.Storage.Driver)
			}
			if c.Server.Listen != "0.0.0.0:8080" {
				t.Errorf("server.listen = %q, want 0.0.0.0:8080", c.Server.Listen)
			}
			if _, err := c.BuildResources(zerolog.Nop()); err != nil {
				t.Fatalf("build the resources: %v", err)
			}
		})
	}
	if strings.Contains(string(data), "password=") || regexp.MustCompile(`postgres://[^:]+:[^$]`).Match(data) {
		t.Errorf("%s writes a database password; it must come from a secret file", postgresConfig)
	}
}

// finalStage returns the Dockerfile's last stage: its instructions, continuation lines joined,
// comments and blank lines left out.
func finalStage(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	cur := ""
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if cur == "" && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if more, ok := strings.CutSuffix(l, "\\"); ok {
			cur += strings.TrimSpace(more) + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	last := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			last = i
		}
	}
	if last < 0 {
		t.Fatalf("%s has no FROM", dockerfile)
	}
	return lines[last:]
}

// The image runs its own config as a non-root user, and checks itself with its own binary.
func TestTheDockerfileShipsTheConfigAndAHealthCheckThatNeedsNoShell(t *testing.T) {
	stage := finalStage(t)
	want := []string{
		"FROM scratch",
		"COPY deploy/docker/accessbot.yaml /etc/accessbot/accessbot.yaml",
		"ENV ACCESSBOT_CONFIG=/etc/accessbot/accessbot.yaml",
		"USER 65532:65532",
		`ENTRYPOINT ["` + imageBinary + `"]`,
		`CMD ["serve"]`,
	}
	for _, w := range want {
		if !slices.Contains(stage, w) {
			t.Errorf("the final stage lacks %q:\n%s", w, strings.Join(stage, "\n"))
		}
	}
	var health string
	for _, l := range stage {
		if strings.HasPrefix(l, "HEALTHCHECK ") {
			health = l
		}
	}
	i := strings.Index(health, " CMD ")
	if i < 0 {
		t.Fatalf("the final stage has no HEALTHCHECK ... CMD:\n%s", strings.Join(stage, "\n"))
	}
	var argv []string
	if err := json.Unmarshal([]byte(health[i+len(" CMD "):]), &argv); err != nil || !slices.Equal(argv, []string{imageBinary, "healthcheck"}) {
		t.Errorf("HEALTHCHECK runs %s, want the exec form [%q, \"healthcheck\"]: scratch has no shell", health[i+5:], imageBinary)
	}
	for _, opt := range []string{"--interval=", "--timeout=", "--start-period="} {
		if !strings.Contains(health[:i], opt) {
			t.Errorf("HEALTHCHECK without %s: %s", opt, health)
		}
	}
}
