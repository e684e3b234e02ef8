package helm

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	_ "github.com/accessbot/accessbot/adapters/noop"
	_ "github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/config"
)

// The image's user and group (Dockerfile: USER 65532:65532).
const imageUID = 65532

// accessbotContainer returns the Deployment and its accessbot container, failing t unless the
// chart renders one Deployment of one container and no init container.
func accessbotContainer(t *testing.T, m manifests) (deployment, container) {
	t.Helper()
	d := as[deployment](t, m.one(t, "Deployment"))
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("the pod has %d containers and %d init containers, want the accessbot container alone", len(pod.Containers), len(pod.InitContainers))
	}
	return d, pod.Containers[0]
}

// portNumber resolves a probe's or a Service's target port (a number or a container port's name)
// against c's ports, or returns 0.
func portNumber(c container, port any) int {
	switch p := port.(type) {
	case int:
		return p
	case string:
		for _, cp := range c.Ports {
			if cp.Name == p {
				return cp.ContainerPort
			}
		}
	}
	return 0
}

// isTrue reports whether a pointer to a bool is set and true.
func isTrue(b *bool) bool { return b != nil && *b }

// is reports whether a pointer to an int64 is set to want.
func is(n *int64, want int64) bool { return n != nil && *n == want }

func TestHelmLintPassesWithTheDefaultValuesAndEveryCIValuesFile(t *testing.T) {
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if _, err := runHelm(t, append([]string{"lint", "--strict", chartDir}, c.args()...)...); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestThePodRunsAsTheImagesUserWithARestrictedSecurityContext(t *testing.T) {
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			d, ctr := accessbotContainer(t, template(t, c.args()...))
			pod := d.Spec.Template.Spec.SecurityContext
			if !isTrue(pod.RunAsNonRoot) || !is(pod.RunAsUser, imageUID) || !is(pod.RunAsGroup, imageUID) || !is(pod.FSGroup, imageUID) {
				t.Errorf("pod securityContext runAsNonRoot %v, runAsUser %v, runAsGroup %v, fsGroup %v; want true and the image's 65532 (fsGroup: the /data volume is the user's)",
					pod.RunAsNonRoot, pod.RunAsUser, pod.RunAsGroup, pod.FSGroup)
			}
			if pod.SeccompProfile.Type != "RuntimeDefault" {
				t.Errorf("pod seccompProfile %q, want RuntimeDefault", pod.SeccompProfile.Type)
			}
			sc := ctr.SecurityContext
			if !isTrue(sc.RunAsNonRoot) || !is(sc.RunAsUser, imageUID) || !is(sc.RunAsGroup, imageUID) {
				t.Errorf("container runAsNonRoot %v, runAsUser %v, runAsGroup %v; want true, 65532, 65532", sc.RunAsNonRoot, sc.RunAsUser, sc.RunAsGroup)
			}
			if !isTrue(sc.ReadOnlyRootFilesystem) {
				t.Error("the container's root filesystem is writable: want readOnlyRootFilesystem: true")
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Error("allowPrivilegeEscalation is not false")
			}
			if isTrue(sc.Privileged) {
				t.Error("the container is privileged")
			}
			if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) != 0 {
				t.Errorf("capabilities drop %v add %v, want drop [ALL] and nothing added", sc.Capabilities.Drop, sc.Capabilities.Add)
			}
			if sc.SeccompProfile.Type != "RuntimeDefault" {
				t.Errorf("container seccompProfile %q, want RuntimeDefault", sc.SeccompProfile.Type)
			}
			if want := "accessbot:" + chartAppVersion(t); ctr.Image != want {
				t.Errorf("image %q, want %q (image.tag defaults to the chart's appVersion)", ctr.Image, want)
			}
		})
	}
}

// chartAppVersion reads appVersion from Chart.yaml.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	var chart struct {
		AppVersion string `yaml:"appVersion"`
	}
	b := readFile(t, chartDir+"/Chart.yaml")
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatalf("Chart.yaml: %v", err)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(chart.AppVersion) {
		t.Fatalf("Chart.yaml appVersion %q is not a pinned release (x.y.z)", chart.AppVersion)
	}
	return chart.AppVersion
}

func TestTheProbesAskHealthzAndReadyzOnThePortTheServiceAndTheConfigUse(t *testing.T) {
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			m := template(t, c.args()...)
			d, ctr := accessbotContainer(t, m)
			if len(ctr.Ports) != 1 || ctr.Ports[0].Name != "http" || ctr.Ports[0].ContainerPort != 8080 {
				t.Fatalf("container ports %+v, want one, http 8080", ctr.Ports)
			}
			for _, p := range []struct {
				name  string
				probe *probe
				path  string
			}{
				{"liveness", ctr.LivenessProbe, "/healthz"},
				{"readiness", ctr.ReadinessProbe, "/readyz"},
			} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					t.Errorf("no HTTP %s probe", p.name)
					continue
				}
				if p.probe.HTTPGet.Path != p.path || portNumber(ctr, p.probe.HTTPGet.Port) != 8080 {
					t.Errorf("%s probe GET %s on port %v, want %s on 8080", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port, p.path)
				}
			}
			svc := as[service](t, m.one(t, "Service"))
			if svc.Spec.Type != "ClusterIP" || len(svc.Spec.Ports) != 1 {
				t.Fatalf("Service type %s with %d ports, want ClusterIP with one", svc.Spec.Type, len(svc.Spec.Ports))
			}
			if p := svc.Spec.Ports[0]; p.Name != "http" || p.Port != 8080 || portNumber(ctr, p.TargetPort) != 8080 {
				t.Errorf("Service port %s %d -> %v, want http 8080 -> the container's 8080", p.Name, p.Port, p.TargetPort)
			}
			if !reflect.DeepEqual(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
				t.Errorf("Service selects %v, the Deployment %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels)
			}
			for k, v := range d.Spec.Selector.MatchLabels {
				if d.Spec.Template.Metadata.Labels[k] != v {
					t.Errorf("the pods lack the selector's label %s=%s", k, v)
				}
			}
			if cm := m.all("ConfigMap"); len(cm) == 1 {
				var cfg struct {
					Server struct {
						Listen string `yaml:"listen"`
					} `yaml:"server"`
				}
				if err := yaml.Unmarshal([]byte(as[configMap](t, cm[0]).Data[configKey]), &cfg); err != nil {
					t.Fatal(err)
				}
				if cfg.Server.Listen != "0.0.0.0:8080" && cfg.Server.Listen != ":8080" {
					t.Errorf("the config's server.listen is %q: the probes and the Service use 8080 on the pod's address", cfg.Server.Listen)
				}
			}
		})
	}
}

// configFile returns the path in the container of the config file the pod mounts, and the name of
// the ConfigMap it comes from, failing t unless it is mounted read-only.
func configFile(t *testing.T, d deployment, ctr container) (path, configMapName string) {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		for _, mnt := range ctr.VolumeMounts {
			if mnt.Name != v.Name {
				continue
			}
			if !mnt.ReadOnly {
				t.Errorf("the config volume is mounted writable at %s", mnt.MountPath)
			}
			if mnt.SubPath != "" {
				return mnt.MountPath, v.ConfigMap.Name
			}
			for _, it := range v.ConfigMap.Items {
				if it.Key == configKey {
					return mnt.MountPath + "/" + it.Path, v.ConfigMap.Name
				}
			}
		}
	}
	t.Fatal("no ConfigMap volume with the key accessbot.yaml is mounted")
	return "", ""
}

// env returns the value of the container's environment variable name, and whether it is set
// with a literal value.
func env(ctr container, name string) (string, bool) {
	for _, e := range ctr.Env {
		if e.Name == name && e.Value != nil {
			return *e.Value, true
		}
	}
	return "", false
}

// writableMounts returns the mount paths of the container's volumes that are not read-only.
func writableMounts(ctr container) []string {
	var out []string
	for _, m := range ctr.VolumeMounts {
		if !m.ReadOnly {
			out = append(out, m.MountPath)
		}
	}
	slices.Sort(out)
	return out
}

// podVolume returns the pod's volume named name.
func podVolume(d deployment, name string) (volume, bool) {
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v, true
		}
	}
	return volume{}, false
}

// mountedAt returns the volume mounted at path.
func mountedAt(d deployment, ctr container, path string) (volume, bool) {
	for _, m := range ctr.VolumeMounts {
		if m.MountPath == path {
			return podVolume(d, m.Name)
		}
	}
	return volume{}, false
}

func TestTheConfigIsMountedReadOnlyWhereACCESSBOT_CONFIGPointsAndOnlyTmpAndDataAreWritable(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		configMap string   // the ConfigMap the pods mount
		writable  []string // the container's writable mounts
		data      string   // the kind of volume at /data: emptyDir, pvc, or none
		strategy  string
	}{
		{name: "the defaults keep SQLite on an emptyDir", configMap: "accessbot", writable: []string{"/data", "/tmp"}, data: "emptyDir", strategy: "Recreate"},
		{name: "persistence puts SQLite on a claim of the chart's", args: []string{"--values", "accessbot/ci/sqlite-single-values.yaml"}, configMap: "accessbot", writable: []string{"/data", "/tmp"}, data: "pvc:accessbot-data", strategy: "Recreate"},
		{name: "an existing claim is used as it is", args: []string{"--set", "persistence.enabled=true", "--set", "persistence.existingClaim=mine"}, configMap: "accessbot", writable: []string{"/data", "/tmp"}, data: "pvc:mine", strategy: "Recreate"},
		{name: "PostgreSQL needs no /data and rolls pods one by one", args: []string{"--values", "accessbot/ci/postgres-ha-values.yaml"}, configMap: "accessbot", writable: []string{"/tmp"}, data: "none", strategy: ""},
		{name: "an existing ConfigMap is mounted instead of the chart's", args: []string{"--set", "existingConfigMap=my-config", "--set", "storage.driver=postgres"}, configMap: "my-config", writable: []string{"/tmp"}, data: "none", strategy: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := template(t, c.args...)
			d, ctr := accessbotContainer(t, m)
			if v, ok := env(ctr, "ACCESSBOT_CONFIG"); !ok || v != configPath {
				t.Errorf("ACCESSBOT_CONFIG = %q (set %v), want %s", v, ok, configPath)
			}
			path, cmName := configFile(t, d, ctr)
			if path != configPath || cmName != c.configMap {
				t.Errorf("the config file is %s from ConfigMap %s, want %s from %s", path, cmName, configPath, c.configMap)
			}
			rendered := m.all("ConfigMap")
			switch {
			case c.configMap == "accessbot" && (len(rendered) != 1 || rendered[0].Metadata.Name != c.configMap):
				t.Errorf("%d ConfigMaps rendered, want the one the pods mount, %s", len(rendered), c.configMap)
			case c.configMap != "accessbot" && len(rendered) != 0:
				t.Errorf("a ConfigMap is rendered beside the existing one the pods mount")
			}
			if got := writableMounts(ctr); !slices.Equal(got, c.writable) {
				t.Errorf("writable mounts %v, want %v", got, c.writable)
			}
			if v, ok := mountedAt(d, ctr, "/tmp"); !ok || v.EmptyDir == nil {
				t.Error("/tmp is not an emptyDir")
			}
			v, ok := mountedAt(d, ctr, "/data")
			got := "none"
			switch {
			case ok && v.EmptyDir != nil:
				got = "emptyDir"
			case ok && v.PersistentVolumeClaim != nil:
				got = "pvc:" + v.PersistentVolumeClaim.ClaimName
			case ok:
				got = "another kind"
			}
			if got != c.data {
				t.Errorf("/data is %s, want %s", got, c.data)
			}
			pvcs := m.all("PersistentVolumeClaim")
			if wantPVC := c.data == "pvc:accessbot-data"; (len(pvcs) == 1 && pvcs[0].Metadata.Name == "accessbot-data") != wantPVC || len(pvcs) > 1 {
				t.Errorf("%d PersistentVolumeClaims rendered; want the chart's own: %v", len(pvcs), wantPVC)
			}
			if d.Spec.Strategy.Type != c.strategy {
				t.Errorf("strategy %q, want %q (Recreate: one SQLite writer at a time)", d.Spec.Strategy.Type, c.strategy)
			}
			_, checksum := d.Spec.Template.Metadata.Annotations["checksum/config"]
			if want := c.configMap == "accessbot"; checksum != want {
				t.Errorf("checksum/config annotation present %v, want %v (only a config the chart renders can be summed)", checksum, want)
			}
		})
	}
}

func TestMoreThanOneReplicaNeedsPostgreSQL(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		replicas int    // when it renders
		refusal  string // when it does not: in helm's error
	}{
		{name: "three replicas on SQLite are refused", args: []string{"--set", "replicaCount=3"},
			refusal: "replicaCount is 3 but the storage driver is sqlite: more than one replica needs PostgreSQL (config.storage.driver: postgres), since a SQLite database is one file that one pod writes"},
		{name: "two replicas with a config that names sqlite are refused", args: []string{"--set", "replicaCount=2", "--set", "config.storage.driver=sqlite"},
			refusal: "replicaCount is 2 but the storage driver is sqlite: more than one replica needs PostgreSQL"},
		{name: "two replicas with an existing ConfigMap and no driver are refused", args: []string{"--set", "replicaCount=2", "--set", "existingConfigMap=mine"},
			refusal: "replicaCount is 2 with existingConfigMap: say which storage driver that config uses with storage.driver=postgres (more than one replica needs PostgreSQL)"},
		{name: "two replicas with an existing ConfigMap said to be sqlite are refused", args: []string{"--set", "replicaCount=2", "--set", "existingConfigMap=mine", "--set", "storage.driver=sqlite"},
			refusal: "replicaCount is 2 but the storage driver is sqlite"},
		{name: "one replica on SQLite renders", args: nil, replicas: 1},
		{name: "three replicas on PostgreSQL render", args: []string{"--values", "accessbot/ci/postgres-ha-values.yaml"}, replicas: 3},
		{name: "two replicas with an existing ConfigMap said to be postgres render", args: []string{"--set", "replicaCount=2", "--set", "existingConfigMap=mine", "--set", "storage.driver=postgres"}, replicas: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := tryTemplate(t, c.args...)
			if c.refusal != "" {
				if err == nil {
					t.Fatalf("the chart rendered; want it refused with %q", c.refusal)
				}
				if !strings.Contains(err.Error(), c.refusal) {
					t.Fatalf("refused with\n%v\nwant %q", err, c.refusal)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d, _ := accessbotContainer(t, m)
			if d.Spec.Replicas != c.replicas {
				t.Errorf("replicas %d, want %d", d.Spec.Replicas, c.replicas)
			}
			pdbs := m.all("PodDisruptionBudget")
			if want := c.replicas > 1; (len(pdbs) == 1) != want {
				t.Errorf("%d PodDisruptionBudgets, want one: %v (when replicas > 1)", len(pdbs), want)
			}
			if len(pdbs) == 1 {
				p := as[pdb](t, pdbs[0])
				if !reflect.DeepEqual(p.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
					t.Errorf("the PodDisruptionBudget selects %v, the Deployment %v", p.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
				}
			}
		})
	}
}

func TestTheChartRefusesValuesThatCannotWorkWithAMessageSayingWhy(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		refusal string
	}{
		{name: "a listen address the probes do not reach", args: []string{"--set", "config.server.listen=127.0.0.1:9090"},
			refusal: `config.server.listen is "127.0.0.1:9090": the chart's probes and Service use port 8080 on every interface`},
		{name: "a SQLite file outside /data", args: []string{"--set", "config.storage.dsn=/var/lib/accessbot.db"},
			refusal: `config.storage.dsn is "/var/lib/accessbot.db": a SQLite database must be a file under /data/`},
		{name: "a storage driver accessbot does not know, in the config", args: []string{"--set", "config.storage.driver=mysql"},
			refusal: `the storage driver is "mysql": accessbot knows sqlite and postgres`},
		// A kubernetes resource of the config on this cluster that the chart's RBAC would not
		// allow: the adapter's start-up check would fail on it.
		{name: "a kubernetes resource in a namespace the RBAC does not list", args: []string{"--values", "accessbot/ci/kubernetes-rbac-values.yaml", "--set", "kubernetesAdapter.namespaces={team-a}"},
			refusal: "config.resources team-a-debug (the kubernetes adapter on this cluster) binds in namespace team-b, which kubernetesAdapter.namespaces does not list"},
		{name: "a kubernetes resource binding a Role the RBAC does not list", args: []string{"--values", "accessbot/ci/kubernetes-rbac-values.yaml", "--set", "kubernetesAdapter.roles={other}"},
			refusal: "config.resources team-a-debug (the kubernetes adapter on this cluster) binds Role app-debugger, which kubernetesAdapter.roles does not list"},
		{name: "a kubernetes resource binding a ClusterRole the RBAC does not list", args: []string{"--values", "accessbot/ci/kubernetes-rbac-values.yaml", "--set", "kubernetesAdapter.clusterRoles={view}"},
			refusal: "config.resources team-b-edit (the kubernetes adapter on this cluster) binds ClusterRole edit, which kubernetesAdapter.clusterRoles does not list"},
		{name: "a kubernetes resource in mode token without its RBAC", args: []string{"--values", "accessbot/ci/kubernetes-rbac-values.yaml", "--set", "kubernetesAdapter.tokenMode.enabled=false"},
			refusal: "config.resources team-b-edit (the kubernetes adapter on this cluster) is mode token: set kubernetesAdapter.tokenMode.enabled"},
		{name: "a kubernetes resource in mode token with its ServiceAccounts elsewhere", args: []string{"--values", "accessbot/ci/kubernetes-rbac-values.yaml", "--set", "kubernetesAdapter.tokenMode.serviceAccountNamespace=other"},
			refusal: "config.resources team-b-edit (the kubernetes adapter on this cluster) keeps its ServiceAccounts in accessbot-grants, but kubernetesAdapter.tokenMode.serviceAccountNamespace is other"},
		{name: "a cluster-wide kubernetes resource without cluster-wide RBAC", args: []string{"--values", "accessbot/ci/cluster-wide-values.yaml", "--set", "kubernetesAdapter.clusterWide=false", "--set", "kubernetesAdapter.namespaces={team-a}"},
			refusal: "config.resources cluster-view (the kubernetes adapter on this cluster) binds cluster-wide: set kubernetesAdapter.clusterWide"},
		// values.schema.json: a misspelt or mistyped value is refused, not ignored.
		{name: "a storage driver accessbot does not know, for an existing ConfigMap", args: []string{"--set", "existingConfigMap=mine", "--set", "storage.driver=mysql"},
			refusal: `at '/storage/driver': value must be one of '', 'sqlite', 'postgres'`},
		{name: "a misspelt key", args: []string{"--set", "kubernetesAdapter.namespace=team-a"},
			refusal: `at '/kubernetesAdapter': additional properties 'namespace' not allowed`},
		{name: "replicas that are not a number", args: []string{"--set", "replicaCount=two"},
			refusal: `at '/replicaCount': got string, want integer`},
		{name: "a Secret name Kubernetes refuses", args: []string{"--set", "envFromSecrets={Slack_Secret}"},
			refusal: `at '/envFromSecrets/0'`},
		{name: "RBAC for namespaces with no role to bind", args: []string{"--set", "kubernetesAdapter.rbac.create=true", "--set", "kubernetesAdapter.namespaces={team-a}"},
			refusal: "kubernetesAdapter.namespaces needs kubernetesAdapter.roles or clusterRoles"},
		{name: "cluster-wide RBAC with no ClusterRole to bind", args: []string{"--set", "kubernetesAdapter.rbac.create=true", "--set", "kubernetesAdapter.clusterWide=true"},
			refusal: "kubernetesAdapter.clusterWide needs kubernetesAdapter.clusterRoles"},
		{name: "RBAC with nowhere to bind", args: []string{"--set", "kubernetesAdapter.rbac.create=true", "--set", "kubernetesAdapter.clusterRoles={view}"},
			refusal: "kubernetesAdapter.rbac.create needs kubernetesAdapter.namespaces or clusterWide"},
		{name: "a namespace name Kubernetes refuses", args: []string{"--set", "kubernetesAdapter.rbac.create=true", "--set", "kubernetesAdapter.namespaces={Team_A}", "--set", "kubernetesAdapter.roles={x}"},
			refusal: `kubernetesAdapter.namespaces: "Team_A" is not a namespace name`},
		{name: "a role name with a slash", args: []string{"--set", "kubernetesAdapter.rbac.create=true", "--set", "kubernetesAdapter.namespaces={team-a}", "--set", "kubernetesAdapter.roles={a/b}"},
			refusal: `kubernetesAdapter: "a/b" is not a role or namespace name`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tryTemplate(t, c.args...)
			if err == nil {
				t.Fatalf("the chart rendered; want it refused with %q", c.refusal)
			}
			if !strings.Contains(err.Error(), c.refusal) {
				t.Fatalf("refused with\n%v\nwant %q", err, c.refusal)
			}
		})
	}
}

// secretName matches the names of environment variables and config keys that hold secrets.
var secretName = regexp.MustCompile(`(?i)(token|secret|password|passwd|private|credential|api_?key)`)

// reference matches a value that is wholly a ${NAME} reference (with an optional :-default,
// which must be empty for a secret).
var reference = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*(:-)?\}$|^\$\{file:[^}]+\}$`)

// secretValues walks a decoded config and returns the paths of keys that look secret and hold a
// literal value rather than a ${NAME} reference, and of URLs with a literal password.
func secretValues(path string, v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := strings.TrimPrefix(path+"."+k, ".")
			if s, ok := x.(string); ok && secretName.MatchString(k) && s != "" && !reference.MatchString(s) {
				out = append(out, p)
				continue
			}
			out = append(out, secretValues(p, x)...)
		}
	case []any:
		for i, x := range v {
			out = append(out, secretValues(fmt.Sprintf("%s[%d]", path, i), x)...)
		}
	case string:
		if u, err := url.Parse(v); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && !strings.HasPrefix(pw, "${") {
				out = append(out, path+" (the URL's password)")
			}
		}
	}
	return out
}

func TestNoSecretObjectAndNoSecretValueIsRendered(t *testing.T) {
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			m := template(t, c.args()...)
			if s := m.all("Secret"); len(s) != 0 {
				t.Errorf("the chart renders %d Secrets; secrets come only from existing ones", len(s))
			}
			_, ctr := accessbotContainer(t, m)
			for _, e := range ctr.Env {
				if secretName.MatchString(e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("environment variable %s looks secret and is not from a Secret (valueFrom.secretKeyRef)", e.Name)
				}
			}
			cms := m.all("ConfigMap")
			if len(cms) != 1 {
				t.Fatalf("%d ConfigMaps, want 1", len(cms))
			}
			var cfg any
			if err := yaml.Unmarshal([]byte(as[configMap](t, cms[0]).Data[configKey]), &cfg); err != nil {
				t.Fatal(err)
			}
			if bad := secretValues("", cfg); len(bad) != 0 {
				t.Errorf("the ConfigMap's config holds literal secrets at %v; write ${NAME} and give NAME from a Secret", bad)
			}
		})
	}
}

// The Secrets the tests pretend exist in the cluster, by name and key: what the values files'
// envFromSecrets and secretKeyRefs name. Their values are made up and never rendered.
var clusterSecrets = map[string]map[string]string{
	"accessbot-slack": {
		"SLACK_BOT_TOKEN":      "xoxb-1234-5678-notarealtoken",
		"SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
	},
	"accessbot-postgres": {"password": "not-a-real-password"},
	"accessbot-webhook":  {"secret": "0123456789abcdef0123456789abcdef"},
}

// podEnv returns the environment the Deployment gives the accessbot container, with the values
// of clusterSecrets for what comes from Secrets, failing t when it names a Secret or key that
// does not exist.
func podEnv(t *testing.T, ctr container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range ctr.EnvFrom {
		if f.SecretRef == nil {
			t.Errorf("envFrom other than a Secret: %+v", f)
			continue
		}
		s, ok := clusterSecrets[f.SecretRef.Name]
		if !ok {
			t.Errorf("envFrom names Secret %s, which the test's cluster lacks", f.SecretRef.Name)
		}
		for k, v := range s {
			out[k] = v
		}
	}
	for _, e := range ctr.Env {
		switch {
		case e.Value != nil:
			out[e.Name] = *e.Value
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			v, ok := clusterSecrets[e.ValueFrom.SecretKeyRef.Name][e.ValueFrom.SecretKeyRef.Key]
			if !ok {
				t.Errorf("%s comes from key %s of Secret %s, which the test's cluster lacks", e.Name, e.ValueFrom.SecretKeyRef.Key, e.ValueFrom.SecretKeyRef.Name)
			}
			out[e.Name] = v
		}
	}
	return out
}

func TestTheRenderedConfigLoadsAsAnAccessbotConfigWithTheEnvironmentThePodGets(t *testing.T) {
	for _, c := range valuesCases(t) {
		t.Run(c.name, func(t *testing.T) {
			m := template(t, c.args()...)
			_, ctr := accessbotContainer(t, m)
			data := as[configMap](t, m.one(t, "ConfigMap")).Data[configKey]
			environ := podEnv(t, ctr)
			var missing []string
			lookup := func(name string) (string, bool) {
				v, ok := environ[name]
				if !ok {
					missing = append(missing, name)
				}
				return v, ok
			}
			// Under its path in the pod: nothing in it may be relative to where it was written.
			cfg, err := config.Parse(configPath, []byte(data), lookup)
			if err != nil {
				t.Fatalf("the rendered config does not load (the pod's environment lacks %v):\n%v\n%s", missing, err, data)
			}
			if cfg.Server.Listen != "0.0.0.0:8080" {
				t.Errorf("server.listen %q, want the chart's 0.0.0.0:8080", cfg.Server.Listen)
			}
			switch cfg.Storage.Driver {
			case "sqlite":
				if cfg.Storage.DSN != "/data/accessbot.db" {
					t.Errorf("SQLite at %q, want /data/accessbot.db (the pod's volume)", cfg.Storage.DSN)
				}
			case "postgres":
				if !strings.Contains(cfg.Storage.DSN, clusterSecrets["accessbot-postgres"]["password"]) {
					t.Error("the PostgreSQL DSN does not carry the password from the Secret")
				}
			default:
				t.Errorf("storage driver %q", cfg.Storage.Driver)
			}
			if cfg.Log.Format != "json" {
				t.Errorf("log.format %q, want json (the chart's default, for the cluster's log collector)", cfg.Log.Format)
			}
		})
	}
}

func TestAChangedConfigRollsThePodsAndNothingElseDoes(t *testing.T) {
	checksum := func(args ...string) string {
		d, _ := accessbotContainer(t, template(t, args...))
		sum := d.Spec.Template.Metadata.Annotations["checksum/config"]
		if sum == "" {
			t.Fatal("no checksum/config annotation on the pods")
		}
		return sum
	}
	base := checksum()
	if again := checksum(); again != base {
		t.Fatalf("the same values render checksums %s and %s", base, again)
	}
	if other := checksum("--set", "image.tag=9.9.9", "--set", "persistence.enabled=true"); other != base {
		t.Error("a change outside the config changes the config's checksum")
	}
	for _, set := range []string{"config.log.level=debug", "config.storage.dsn=/data/other.db"} {
		if changed := checksum("--set", set); changed == base {
			t.Errorf("--set %s leaves the config's checksum as it was: the pods would keep the old config", set)
		}
	}
}

func TestTheKubernetesAdaptersRBACIsExactlyWhatItChecksAtStart(t *testing.T) {
	const g = "rbac.authorization.k8s.io"
	manage := func(res string) rule {
		return rule{APIGroups: []string{g}, Resources: []string{res}, Verbs: []string{"get", "list", "create", "patch", "delete"}}
	}
	bind := func(res string, names ...string) rule {
		return rule{APIGroups: []string{g}, Resources: []string{res}, Verbs: []string{"bind"}, ResourceNames: names}
	}
	tokens := []rule{
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get", "create", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, Verbs: []string{"create"}},
	}
	namespaced := []rule{manage("rolebindings"), bind("roles", "app-debugger"), bind("clusterroles", "view", "edit")}
	cases := []struct {
		name         string
		args         []string
		roles        map[string][]rule // by namespace
		clusterRoles [][]rule
		automount    bool
	}{
		{name: "nothing by default", automount: false},
		{name: "namespaced with mode token", args: []string{"--values", "accessbot/ci/kubernetes-rbac-values.yaml"},
			roles: map[string][]rule{"team-a": namespaced, "team-b": namespaced, "accessbot-grants": tokens}, automount: true},
		{name: "cluster-wide", args: []string{"--values", "accessbot/ci/cluster-wide-values.yaml"},
			clusterRoles: [][]rule{{manage("clusterrolebindings"), bind("clusterroles", "view")}}, automount: true},
		{name: "namespaced roles only", args: []string{"--set", "kubernetesAdapter.rbac.create=true", "--set", "kubernetesAdapter.namespaces={team-c}", "--set", "kubernetesAdapter.roles={reader}"},
			roles: map[string][]rule{"team-c": {manage("rolebindings"), bind("roles", "reader")}}, automount: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := template(t, c.args...)
			d, _ := accessbotContainer(t, m)
			if got := isTrue(d.Spec.Template.Spec.AutomountServiceAccountToken); got != c.automount {
				t.Errorf("the pods mount a ServiceAccount token: %v, want %v (only the adapter's in-cluster config needs it)", got, c.automount)
			}
			if sa := m.one(t, "ServiceAccount"); sa.Metadata.Name != serviceAccount || d.Spec.Template.Spec.ServiceAccountName != serviceAccount {
				t.Errorf("ServiceAccount %s, pods run as %s; want %s", sa.Metadata.Name, d.Spec.Template.Spec.ServiceAccountName, serviceAccount)
			}
			roles := map[string][]rule{}
			for _, o := range m.all("Role") {
				if _, dup := roles[o.Metadata.Namespace]; dup {
					t.Errorf("two Roles in namespace %s", o.Metadata.Namespace)
				}
				roles[o.Metadata.Namespace] = as[role](t, o).Rules
			}
			if len(roles) != len(c.roles) || (len(roles) > 0 && !reflect.DeepEqual(roles, c.roles)) {
				t.Errorf("Roles by namespace:\n%+v\nwant exactly\n%+v", roles, c.roles)
			}
			var clusterRoles [][]rule
			for _, o := range m.all("ClusterRole") {
				clusterRoles = append(clusterRoles, as[role](t, o).Rules)
			}
			if len(clusterRoles) != len(c.clusterRoles) || (len(clusterRoles) > 0 && !reflect.DeepEqual(clusterRoles, c.clusterRoles)) {
				t.Errorf("ClusterRoles:\n%+v\nwant exactly\n%+v", clusterRoles, c.clusterRoles)
			}
			// Each Role and ClusterRole is bound to the chart's ServiceAccount, and to it alone.
			checkBindings(t, m, "RoleBinding", "Role", len(c.roles))
			checkBindings(t, m, "ClusterRoleBinding", "ClusterRole", len(c.clusterRoles))
		})
	}
}

// checkBindings checks that m renders want bindings of kind, each binding a roleKind of the chart
// of the same name and namespace to the chart's ServiceAccount alone.
func checkBindings(t *testing.T, m manifests, kind, roleKind string, want int) {
	t.Helper()
	bindings := m.all(kind)
	if len(bindings) != want {
		t.Errorf("%d %ss, want %d", len(bindings), kind, want)
	}
	for _, o := range bindings {
		b := as[binding](t, o)
		found := false
		for _, r := range m.all(roleKind) {
			found = found || (r.Metadata.Name == b.RoleRef.Name && r.Metadata.Namespace == o.Metadata.Namespace)
		}
		if b.RoleRef.Kind != roleKind || !found {
			t.Errorf("%s %s/%s binds %s %s, want the chart's %s of that name", kind, o.Metadata.Namespace, o.Metadata.Name, b.RoleRef.Kind, b.RoleRef.Name, roleKind)
		}
		if len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != serviceAccount || b.Subjects[0].Namespace != releaseNS {
			t.Errorf("%s %s/%s binds %+v, want the ServiceAccount %s/%s alone", kind, o.Metadata.Namespace, o.Metadata.Name, b.Subjects, releaseNS, serviceAccount)
		}
	}
}

func TestTheServiceMonitorScrapesMetricsOnThePortNamedHTTP(t *testing.T) {
	if len(template(t).all("ServiceMonitor")) != 0 {
		t.Error("a ServiceMonitor by default: its CRD may not exist in the cluster")
	}
	m := template(t, "--values", "accessbot/ci/postgres-ha-values.yaml")
	o := m.one(t, "ServiceMonitor")
	if o.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %s", o.APIVersion)
	}
	if o.Metadata.Labels["release"] != "prometheus" {
		t.Errorf("the ServiceMonitor lacks the label metrics.serviceMonitor.labels gives: %v", o.Metadata.Labels)
	}
	sm := as[serviceMonitor](t, o)
	svc := m.one(t, "Service")
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Metadata.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, which the Service lacks", k, v)
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("endpoints %+v, want /metrics on port http", sm.Spec.Endpoints)
	}
}

// notes returns the NOTES.txt the chart prints after an install with args (helm's client-side dry
// run, which needs no cluster).
func notes(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runHelm(t, append([]string{"install", release, chartDir, "--namespace", releaseNS, "--dry-run=client"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	_, n, ok := strings.Cut(string(out), "\nNOTES:\n")
	if !ok {
		t.Fatalf("helm install --dry-run printed no NOTES:\n%s", out)
	}
	return n
}

func TestTheNotesWarnOfADatabaseLostWithThePodAndNameTheNamespacesToMake(t *testing.T) {
	const lost = "WARNING: the SQLite database is on an emptyDir: every request, grant and audit record is LOST"
	cases := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
	}{
		{name: "the defaults: an emptyDir and the trial config", want: []string{lost, "This is the TRIAL config"}},
		{name: "persistence: no warning", args: []string{"--values", "accessbot/ci/sqlite-single-values.yaml"}, notWant: []string{lost, "TRIAL"}},
		{name: "PostgreSQL: no warning", args: []string{"--values", "accessbot/ci/postgres-ha-values.yaml"}, notWant: []string{lost}},
		{name: "the adapter's RBAC: the namespaces to make", args: []string{"--values", "accessbot/ci/kubernetes-rbac-values.yaml"},
			want: []string{"The chart does not create namespaces: each of these must exist", "\n  team-a\n", "\n  team-b\n", "\n  accessbot-grants (the per-grant ServiceAccounts of mode token)"}},
		{name: "an existing ConfigMap: roll the pods yourself", args: []string{"--set", "existingConfigMap=mine", "--set", "storage.driver=postgres"},
			want: []string{"pods do not restart when it changes", "rollout restart deploy/accessbot"}, notWant: []string{lost, "TRIAL"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := notes(t, c.args...)
			for _, w := range c.want {
				if !strings.Contains(n, w) {
					t.Errorf("the notes lack %q:\n%s", w, n)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(n, w) {
					t.Errorf("the notes say %q:\n%s", w, n)
				}
			}
		})
	}
}
