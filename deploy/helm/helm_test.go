package helm

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/accessbot/accessbot/internal/servertest"
)

// helmVersion is the helm module version .ci/helm builds.
const helmVersion = "v4.3.2"

// The chart under test, and the release the tests render it as.
const (
	chartDir       = "accessbot"
	release        = "accessbot"
	releaseNS      = "accessbot-helm"
	ciValuesGlob   = "accessbot/ci/*.yaml"
	configKey      = "accessbot.yaml"
	configMount    = "/etc/accessbot"
	configPath     = "/etc/accessbot/accessbot.yaml"
	serviceAccount = "accessbot" // the release's full name
)

// findHelm returns the path of helm: $ACCESSBOT_HELM, else the tools cache where .ci/helm puts
// it.
func findHelm() (string, error) {
	if p := os.Getenv("ACCESSBOT_HELM"); p != "" {
		if !servertest.IsExecutable(p) {
			return "", servertest.Unavailable{Msg: "helm: ACCESSBOT_HELM=" + p + " is not an executable file; run .ci/helm"}
		}
		return p, nil
	}
	tools := os.Getenv("ACCESSBOT_TOOLS")
	if tools == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", servertest.Unavailable{Msg: "helm: no home directory to find the tools cache in"}
			}
			cache = filepath.Join(home, ".cache")
		}
		tools = filepath.Join(cache, "accessbot-tools")
	}
	p := filepath.Join(tools, "bin", "helm")
	build := "run .ci/helm (GOBIN=" + filepath.Dir(p) + " go install helm.sh/helm/v4/cmd/helm@" + helmVersion + ")"
	if !servertest.IsExecutable(p) {
		return "", servertest.Unavailable{Msg: "helm: helm " + helmVersion + " is not built (" + p + "): " + build}
	}
	// The cache may hold the build of another pin, whose lint and rendering are not the ones the
	// pin promises.
	if bi, err := buildinfo.ReadFile(p); err != nil || bi.Main.Version != helmVersion {
		got := "unknown"
		if err == nil {
			got = bi.Main.Version
		}
		return "", servertest.Unavailable{Msg: "helm: " + p + " is helm " + got + ", want " + helmVersion + ": " + build}
	}
	return p, nil
}

// runHelm runs helm with args in this directory, with helm's own config, cache and data in a
// directory of the test's (so nothing of the machine's helm setup counts), and returns its
// standard output, or an error holding its standard error.
func runHelm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	bin, err := findHelm()
	if err != nil {
		servertest.Handle(t, err)
	}
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), errors.New("helm " + strings.Join(args, " ") + ": " + err.Error() + "\n" + stderr.String() + stdout.String())
	}
	return stdout.Bytes(), nil
}

// ciValuesFiles are the values files under accessbot/ci/, which `helm lint` and the tests
// render the chart with beside its default values.
func ciValuesFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(ciValuesGlob)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("%s: %d values files, want at least 4 (sqlite, postgres with replicas, the adapter's RBAC namespaced and cluster-wide)", ciValuesGlob, len(files))
	}
	return files
}

// valuesCase is one way to render the chart: a values file (empty: the defaults) and --set
// arguments.
type valuesCase struct {
	name string
	file string
	set  []string
}

// valuesCases are the defaults and each file under accessbot/ci/.
func valuesCases(t *testing.T) []valuesCase {
	t.Helper()
	cases := []valuesCase{{name: "defaults"}}
	for _, f := range ciValuesFiles(t) {
		cases = append(cases, valuesCase{name: strings.TrimSuffix(filepath.Base(f), ".yaml"), file: f})
	}
	return cases
}

// args are the helm arguments that render c.
func (c valuesCase) args() []string {
	var a []string
	if c.file != "" {
		a = append(a, "--values", c.file)
	}
	for _, s := range c.set {
		a = append(a, "--set", s)
	}
	return a
}

// object is one rendered manifest: what every object has, and the whole of it.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	// raw is the whole object as decoded.
	raw map[string]any
}

// manifests is the chart rendered once.
type manifests struct {
	objects []object
	// text is helm's whole output.
	text string
}

// template renders the chart as release in releaseNS with args, failing t when helm does.
func template(t *testing.T, args ...string) manifests {
	t.Helper()
	m, err := tryTemplate(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tryTemplate is template that returns helm's error.
func tryTemplate(t *testing.T, args ...string) (manifests, error) {
	t.Helper()
	out, err := runHelm(t, append([]string{"template", release, chartDir, "--namespace", releaseNS}, args...)...)
	if err != nil {
		return manifests{}, err
	}
	m := manifests{text: string(out)}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template printed YAML that does not parse: %v\n%s", err, out)
		}
		var o object
		if err := n.Decode(&o); err != nil {
			t.Fatalf("a rendered document: %v", err)
		}
		if err := n.Decode(&o.raw); err != nil {
			t.Fatalf("a rendered document: %v", err)
		}
		if o.raw == nil {
			continue // a document of comments only
		}
		if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
			t.Fatalf("a rendered object without apiVersion, kind or name:\n%v", o.raw)
		}
		m.objects = append(m.objects, o)
	}
	return m, nil
}

// all returns the objects of kind.
func (m manifests) all(kind string) []object {
	var out []object
	for _, o := range m.objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the only object of kind, failing t unless there is exactly one.
func (m manifests) one(t *testing.T, kind string) object {
	t.Helper()
	all := m.all(kind)
	if len(all) != 1 {
		t.Fatalf("%d objects of kind %s rendered, want 1", len(all), kind)
	}
	return all[0]
}

// as decodes o into a T, the shape of its kind that a test reads.
func as[T any](t *testing.T, o object) T {
	t.Helper()
	b, err := yaml.Marshal(o.raw)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.Metadata.Name, err)
	}
	return v
}

// readFile reads a file of the package, failing t.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
