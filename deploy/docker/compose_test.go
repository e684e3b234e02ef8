package docker_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/internal/servertest"
)

// composecheck returns the path of the composecheck tool (./composecheck, a module of its own):
// $ACCESSBOT_COMPOSECHECK, else the tools cache where .ci/run builds it.
func composecheck(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ACCESSBOT_COMPOSECHECK"); p != "" {
		return p
	}
	tools := os.Getenv("ACCESSBOT_TOOLS")
	if tools == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				servertest.Handle(t, servertest.Unavailable{Msg: "no home directory to find the tools cache in"})
			}
			cache = filepath.Join(home, ".cache")
		}
		tools = filepath.Join(cache, "accessbot-tools")
	}
	p := filepath.Join(tools, "bin", "composecheck")
	if _, err := os.Stat(p); err != nil {
		servertest.Handle(t, servertest.Unavailable{Msg: "composecheck is not built (" + p +
			"): run .ci/run, or (cd deploy/docker/composecheck && go build -o " + p + " .)"})
	}
	return p
}

// The variables compose.yaml requires of the operator, with values of the right shape.
var composeEnv = map[string]string{
	"ACCESSBOT_PUBLIC_URL":   "https://accessbot.example.com",
	"SLACK_APPROVER_CHANNEL": "C0123ABCDEF",
	"STAGING_WEBHOOK_URL":    "https://gateway.example.com/staging-db",
}

// compose.yaml loads as Docker Compose loads it (its schema, interpolation, merge keys,
// consistency), refuses to start without the variables it requires, and makes PostgreSQL and
// two replicas that wait for it to be healthy and check themselves with the image's command.
func TestComposeLoadsAsComposeDoesAndRequiresItsVariables(t *testing.T) {
	bin := composecheck(t)

	out, err := exec.Command(bin, composeFile).CombinedOutput()
	if err == nil {
		t.Error("compose.yaml loads with no variable set; it must require the ones without a safe default")
	}
	for name := range composeEnv {
		if !strings.Contains(string(out), "required variable "+name+" is missing") {
			t.Errorf("without %s, compose does not say it is missing:\n%s", name, out)
		}
	}

	args := []string{}
	for k, v := range composeEnv {
		args = append(args, "-e", k+"="+v)
	}
	cmd := exec.Command(bin, append(args, composeFile)...)
	out, err = cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("composecheck %s: %v\n%s", composeFile, err, stderr)
	}
	var project struct {
		Services map[string]struct {
			Image     string `json:"image"`
			DependsOn map[string]struct {
				Condition string `json:"condition"`
			} `json:"depends_on"`
			Healthcheck *struct {
				Test []string `json:"test"`
			} `json:"healthcheck"`
			Secrets []struct {
				Source string `json:"source"`
				Target string `json:"target"`
			} `json:"secrets"`
			Configs []struct {
				Source string `json:"source"`
				Target string `json:"target"`
			} `json:"configs"`
			Ports []struct {
				HostIP    string `json:"host_ip"`
				Published string `json:"published"`
				Target    int    `json:"target"`
			} `json:"ports"`
		} `json:"services"`
		Configs map[string]struct {
			File string `json:"file"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(out, &project); err != nil {
		t.Fatalf("decode composecheck's project: %v\n%s", err, out)
	}
	var names []string
	for n := range project.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	if want := []string{"accessbot-1", "accessbot-2", "postgres"}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	abs, err := filepath.Abs(postgresConfig)
	if err != nil {
		t.Fatal(err)
	}
	published := map[string]bool{}
	for _, name := range replicas {
		s := project.Services[name]
		if s.DependsOn["postgres"].Condition != "service_healthy" {
			t.Errorf("%s: depends_on postgres %+v, want service_healthy", name, s.DependsOn["postgres"])
		}
		if s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test, []string{"CMD", imageBinary, "healthcheck"}) {
			t.Errorf("%s: health check %+v", name, s.Healthcheck)
		}
		if len(s.Configs) != 1 || project.Configs[s.Configs[0].Source].File != abs || s.Configs[0].Target != "/etc/accessbot/accessbot.yaml" {
			t.Errorf("%s: configs %+v, want %s at /etc/accessbot/accessbot.yaml", name, s.Configs, abs)
		}
		for _, sec := range s.Secrets {
			if sec.Target != "/run/secrets/"+sec.Source {
				t.Errorf("%s: secret %s at %s, want /run/secrets/%s (where the config reads it)", name, sec.Source, sec.Target, sec.Source)
			}
		}
		for _, p := range s.Ports {
			if p.HostIP != "127.0.0.1" || p.Target != 8080 || published[p.Published] {
				t.Errorf("%s: port %+v, want its own 127.0.0.1 port to 8080", name, p)
			}
			published[p.Published] = true
		}
	}
}
