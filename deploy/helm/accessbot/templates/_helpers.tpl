{{/*
The chart's name, cut to 63 characters (a label value's limit).
*/}}
{{- define "accessbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The release's full name, which names every object: the release name alone when it already holds
the chart's name.
*/}}
{{- define "accessbot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The labels every object carries.
*/}}
{{- define "accessbot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "accessbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
The labels the Service, the PodDisruptionBudget and the Deployment select pods by; they never
change for a release (a Deployment's selector is immutable).
*/}}
{{- define "accessbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "accessbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
The pods' ServiceAccount.
*/}}
{{- define "accessbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "accessbot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The ConfigMap the pods mount: the user's own, or the one the chart renders.
*/}}
{{- define "accessbot.configMapName" -}}
{{- .Values.existingConfigMap | default (include "accessbot.fullname" .) -}}
{{- end -}}

{{/*
The config the chart renders, as a dict: config: (or files/trial.yaml when it is empty) merged
over the chart's defaults. The listen address is the chart's (the probes and the Service use
port 8080); a SQLite database must be under /data, the only writable volume but /tmp.
*/}}
{{- define "accessbot.configDict" -}}
{{- $user := deepCopy (.Values.config | default dict) -}}
{{- if not $user -}}
{{- $user = .Files.Get "files/trial.yaml" | fromYaml -}}
{{- end -}}
{{- $listen := dig "server" "listen" "" $user -}}
{{- if and $listen (ne $listen "0.0.0.0:8080") (ne $listen ":8080") -}}
{{- fail (printf "config.server.listen is %q: the chart's probes and Service use port 8080 on every interface, so it must be \"0.0.0.0:8080\" or \":8080\" (or left out)" $listen) -}}
{{- end -}}
{{- $defaults := dict "server" (dict "listen" "0.0.0.0:8080") "log" (dict "format" "json") -}}
{{- $driver := dig "storage" "driver" "" $user -}}
{{- if or (not $driver) (eq $driver "sqlite") -}}
{{- $_ := set $defaults "storage" (dict "driver" "sqlite" "dsn" "/data/accessbot.db") -}}
{{- end -}}
{{- $merged := mergeOverwrite $defaults $user -}}
{{- if eq $merged.storage.driver "sqlite" -}}
{{- $dsn := $merged.storage.dsn | toString -}}
{{- if not (hasPrefix "/data/" (trimPrefix "file:" $dsn)) -}}
{{- fail (printf "config.storage.dsn is %q: a SQLite database must be a file under /data/, the pod's volume for it (the root filesystem is read-only)" $dsn) -}}
{{- end -}}
{{- end -}}
{{- toYaml $merged -}}
{{- end -}}

{{/*
The storage driver the pods use: from the rendered config, or with existingConfigMap from the
value storage.driver ("" when not said).
*/}}
{{- define "accessbot.storageDriver" -}}
{{- if .Values.existingConfigMap -}}
{{- .Values.storage.driver | default "" -}}
{{- else -}}
{{- (include "accessbot.configDict" . | fromYaml).storage.driver -}}
{{- end -}}
{{- end -}}

{{/*
Whether the pods need the /data volume: SQLite, or a driver not said.
*/}}
{{- define "accessbot.needsData" -}}
{{- $driver := include "accessbot.storageDriver" . -}}
{{- if or (eq $driver "") (eq $driver "sqlite") -}}true{{- end -}}
{{- end -}}

{{/*
Refuses what cannot work: more than one replica on SQLite, and RBAC values that would hand out
more than the adapter needs (an empty resourceNames allows every name).
*/}}
{{- define "accessbot.validate" -}}
{{- $driver := include "accessbot.storageDriver" . -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- if and .Values.existingConfigMap (not .Values.storage.driver) -}}
{{- fail (printf "replicaCount is %d with existingConfigMap: say which storage driver that config uses with storage.driver=postgres (more than one replica needs PostgreSQL)" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if ne $driver "postgres" -}}
{{- fail (printf "replicaCount is %d but the storage driver is %s: more than one replica needs PostgreSQL (config.storage.driver: postgres), since a SQLite database is one file that one pod writes" (int .Values.replicaCount) ($driver | default "sqlite")) -}}
{{- end -}}
{{- end -}}
{{- if not (has $driver (list "" "sqlite" "postgres")) -}}
{{- fail (printf "the storage driver is %q: accessbot knows sqlite and postgres" $driver) -}}
{{- end -}}
{{- $k := .Values.kubernetesAdapter -}}
{{- if $k.rbac.create -}}
{{- range $k.namespaces -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" .) -}}
{{- fail (printf "kubernetesAdapter.namespaces: %q is not a namespace name (lower-case letters, digits and -)" .) -}}
{{- end -}}
{{- end -}}
{{- range concat $k.roles $k.clusterRoles (list $k.tokenMode.serviceAccountNamespace) -}}
{{- if not (regexMatch "^[A-Za-z0-9][A-Za-z0-9:._-]*$" .) -}}
{{- fail (printf "kubernetesAdapter: %q is not a role or namespace name" .) -}}
{{- end -}}
{{- end -}}
{{- if and $k.namespaces (not (or $k.roles $k.clusterRoles)) -}}
{{- fail "kubernetesAdapter.namespaces needs kubernetesAdapter.roles or clusterRoles: the Roles and ClusterRoles the adapter may bind there" -}}
{{- end -}}
{{- if and $k.clusterWide (not $k.clusterRoles) -}}
{{- fail "kubernetesAdapter.clusterWide needs kubernetesAdapter.clusterRoles: the ClusterRoles the adapter may bind cluster-wide" -}}
{{- end -}}
{{- if not (or $k.namespaces $k.clusterWide) -}}
{{- fail "kubernetesAdapter.rbac.create needs kubernetesAdapter.namespaces or clusterWide: where the adapter makes its bindings" -}}
{{- end -}}
{{- if not .Values.existingConfigMap -}}
{{- include "accessbot.validateKubernetesResources" . -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses a kubernetes resource of the config, on this cluster (no kubeconfig), that the RBAC the
chart makes would not allow: the adapter's start-up check would fail on it.
*/}}
{{- define "accessbot.validateKubernetesResources" -}}
{{- $k := .Values.kubernetesAdapter -}}
{{- $cfg := include "accessbot.configDict" . | fromYaml -}}
{{- range $cfg.resources -}}
{{- $a := .adapter | default dict -}}
{{- if and (eq (toString $a.type) "kubernetes") (not $a.kubeconfig) -}}
{{- $what := printf "config.resources %s (the kubernetes adapter on this cluster)" (toString .name) -}}
{{- range $ns := $a.namespaces | default list -}}
{{- if not (has $ns $k.namespaces) -}}
{{- fail (printf "%s binds in namespace %s, which kubernetesAdapter.namespaces does not list" $what $ns) -}}
{{- end -}}
{{- end -}}
{{- if and (not $a.namespaces) (not $k.clusterWide) -}}
{{- fail (printf "%s binds cluster-wide: set kubernetesAdapter.clusterWide" $what) -}}
{{- end -}}
{{- if and $a.role (not (has $a.role $k.roles)) -}}
{{- fail (printf "%s binds Role %s, which kubernetesAdapter.roles does not list" $what $a.role) -}}
{{- end -}}
{{- if and $a.cluster_role (not (has $a.cluster_role $k.clusterRoles)) -}}
{{- fail (printf "%s binds ClusterRole %s, which kubernetesAdapter.clusterRoles does not list" $what $a.cluster_role) -}}
{{- end -}}
{{- if eq (toString $a.mode) "token" -}}
{{- $sans := $a.service_account_namespace | default "accessbot-grants" -}}
{{- if not $k.tokenMode.enabled -}}
{{- fail (printf "%s is mode token: set kubernetesAdapter.tokenMode.enabled" $what) -}}
{{- end -}}
{{- if ne $sans $k.tokenMode.serviceAccountNamespace -}}
{{- fail (printf "%s keeps its ServiceAccounts in %s, but kubernetesAdapter.tokenMode.serviceAccountNamespace is %s" $what $sans $k.tokenMode.serviceAccountNamespace) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
