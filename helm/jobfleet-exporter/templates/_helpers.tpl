{{/*
The chart name, or nameOverride.
*/}}
{{- define "jobfleet-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified app name: fullnameOverride, else <release>-<chart> (just <release> when it
already holds the chart name). Kept to 52 characters so that "-headless" still fits the 63 of a
DNS label, and StatefulSet pod names (<name>-<ordinal>) stay valid host names.
*/}}
{{- define "jobfleet-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "jobfleet-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "jobfleet-exporter.labels" -}}
helm.sh/chart: {{ include "jobfleet-exporter.chart" . }}
{{ include "jobfleet-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: jobfleet-exporter
{{- end }}

{{/*
Selector labels: the pods of this release. Never change them (selectors are immutable).
*/}}
{{- define "jobfleet-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jobfleet-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "jobfleet-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "jobfleet-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "jobfleet-exporter.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Sharded (shards > 1): a StatefulSet whose pod names end in the shard ordinal.
*/}}
{{- define "jobfleet-exporter.sharded" -}}
{{- if gt (int .Values.shards) 1 }}true{{ end }}
{{- end }}

{{- define "jobfleet-exporter.replicas" -}}
{{- if include "jobfleet-exporter.sharded" . }}{{ int .Values.shards }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{- define "jobfleet-exporter.secretName" -}}
{{- if .Values.existingSecret }}{{ .Values.existingSecret }}{{ else }}{{ include "jobfleet-exporter.fullname" . }}{{ end }}
{{- end }}

{{/*
Whether the pod mounts credentials: a Secret the chart makes, or an existing one.
*/}}
{{- define "jobfleet-exporter.hasSecret" -}}
{{- if or .Values.existingSecret .Values.secrets }}true{{ end }}
{{- end }}

{{/*
What the KubeRay targets and kuberay discovery sources ask of this cluster, as JSON. Only
`in_cluster: true` ones call this cluster's API server as the chart's service account; a `url`
one brings its own token, for its own identity. inCluster: there is such a one. allNamespaces:
one of them names no namespaces (it lists every namespace). namespaces: the ones they name,
sorted, once each. resources: what they read, rayclusters always, rayjobs for a target (a
discovery source reads only RayClusters). mountsToken: one of them reads the token from the
default service_account_dir, where automountServiceAccountToken puts it.
*/}}
{{- define "jobfleet-exporter.kuberay" -}}
{{- $callers := list }}
{{- range .Values.config.targets }}
{{- if eq (toString (get . "backend")) "kuberay" }}
{{- $callers = append $callers (dict "settings" . "at" (printf "config.targets: %s: namespaces" (toString (get . "name"))) "reads" (list "rayjobs" "rayclusters")) }}
{{- end }}
{{- end }}
{{- range (.Values.config.discovery | default list) }}
{{- if kindIs "map" (get . "kuberay") }}
{{- $callers = append $callers (dict "settings" (get . "kuberay") "at" (printf "config.discovery: %s: kuberay.namespaces" (toString (get . "name"))) "reads" (list "rayclusters")) }}
{{- end }}
{{- end }}
{{- $inCluster := false }}
{{- $all := false }}
{{- $mounts := false }}
{{- $namespaces := list }}
{{- $resources := list }}
{{- range $callers }}
{{- $settings := .settings }}
{{- if has (lower (toString (get $settings "in_cluster"))) (list "true" "yes" "on" "1" "y" "t") }}
{{- $inCluster = true }}
{{- $resources = concat $resources .reads }}
{{- $dir := toString (default "/var/run/secrets/kubernetes.io/serviceaccount" (get $settings "service_account_dir")) }}
{{- if eq (trimSuffix "/" $dir) "/var/run/secrets/kubernetes.io/serviceaccount" }}
{{- $mounts = true }}
{{- end }}
{{- $named := get $settings "namespaces" }}
{{- if and $named (not (kindIs "slice" $named)) }}
{{- fail (printf "%s must be a list, e.g. [team-a, team-b]" .at) }}
{{- end }}
{{- if $named }}
{{- range $named }}
{{- $namespaces = append $namespaces (toString .) }}
{{- end }}
{{- else }}
{{- $all = true }}
{{- end }}
{{- end }}
{{- end }}
{{- $read := list }}
{{- range list "rayjobs" "rayclusters" }}
{{- if has . $resources }}
{{- $read = append $read . }}
{{- end }}
{{- end }}
{{- dict "inCluster" $inCluster "allNamespaces" $all "namespaces" ($namespaces | uniq | sortAlpha) "resources" $read "mountsToken" $mounts | toJson }}
{{- end }}

{{/*
The name of the KubeRay ClusterRole, or Role, and its binding. With the release namespace in it:
a ClusterRole, or a Role in a namespace of the targets, must not clash with the same release
name installed in another namespace.
*/}}
{{- define "jobfleet-exporter.kuberayRbacName" -}}
{{- printf "%s-%s-kuberay" (include "jobfleet-exporter.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
What the KubeRay targets and sources read: RayJobs (for a target) and RayClusters, never
anything else, never a write.
*/}}
{{- define "jobfleet-exporter.kuberayRules" -}}
- apiGroups: ["ray.io"]
  resources: {{ (include "jobfleet-exporter.kuberay" . | fromJson).resources | toJson }}
  verbs: ["get", "list", "watch"]
{{- end }}

{{/*
Whether the pod mounts the service account token: asked for, or needed by a KubeRay target.
*/}}
{{- define "jobfleet-exporter.mountsToken" -}}
{{- if or .Values.serviceAccount.automountServiceAccountToken (include "jobfleet-exporter.kuberay" . | fromJson).mountsToken }}true{{ end }}
{{- end }}

{{/*
Values that cannot work together, refused at render time with the reason.
*/}}
{{- define "jobfleet-exporter.validate" -}}
{{- if and .Values.existingSecret .Values.secrets }}
{{- fail "set secrets (the chart makes the Secret) or existingSecret (yours), not both" }}
{{- end }}
{{- if and (include "jobfleet-exporter.sharded" .) (gt (int .Values.replicaCount) 1) }}
{{- fail "shards > 1 sets the number of replicas (one per shard): leave replicaCount at 1" }}
{{- end }}
{{- if and .Values.persistence.enabled (not (include "jobfleet-exporter.sharded" .)) (gt (int .Values.replicaCount) 1) }}
{{- fail "persistence with replicaCount > 1 would share one state file between replicas: use shards, or replicaCount 1" }}
{{- end }}
{{- if and .Values.persistence.enabled .Values.persistence.existingClaim (include "jobfleet-exporter.sharded" .) }}
{{- fail "persistence.existingClaim cannot be shared by shards: each shard gets its own claim from volumeClaimTemplates" }}
{{- end }}
{{- end }}

{{/*
The pod template of the Deployment and of the StatefulSet.
*/}}
{{- define "jobfleet-exporter.podTemplate" -}}
metadata:
  labels:
    {{- include "jobfleet-exporter.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if and .Values.secrets (not .Values.existingSecret) }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "jobfleet-exporter.serviceAccountName" . }}
  # Only a KubeRay in_cluster target (or serviceAccount.automountServiceAccountToken) needs the
  # token: it calls the Kubernetes API. enableServiceLinks: false still sets KUBERNETES_SERVICE_*.
  automountServiceAccountToken: {{ if include "jobfleet-exporter.mountsToken" . }}true{{ else }}false{{ end }}
  enableServiceLinks: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: exporter
      image: {{ include "jobfleet-exporter.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config.file=/etc/jobfleet-exporter/config/config.yaml
        - --web.listen-address=:9760
        - --log.level={{ .Values.logLevel }}
        - --log.format={{ .Values.logFormat }}
        {{- if include "jobfleet-exporter.sharded" . }}
        - --total-shards={{ int .Values.shards }}
        {{- end }}
        {{- range .Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      ports:
        - name: http
          containerPort: 9760
          protocol: TCP
      {{- with .Values.extraEnv }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: /etc/jobfleet-exporter/config
          readOnly: true
        {{- if include "jobfleet-exporter.hasSecret" . }}
        - name: secrets
          mountPath: /etc/jobfleet-exporter/secrets
          readOnly: true
        {{- end }}
        {{- if .Values.discoveryFiles }}
        - name: discovery-files
          mountPath: /etc/jobfleet-exporter/sd
          readOnly: true
        {{- end }}
        - name: state
          mountPath: /var/lib/jobfleet-exporter
        - name: tmp
          mountPath: /tmp
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "jobfleet-exporter.fullname" . }}
    {{- if include "jobfleet-exporter.hasSecret" . }}
    - name: secrets
      secret:
        secretName: {{ include "jobfleet-exporter.secretName" . }}
        defaultMode: 0440
    {{- end }}
    {{- if .Values.discoveryFiles }}
    - name: discovery-files
      configMap:
        name: {{ include "jobfleet-exporter.fullname" . }}-sd
    {{- end }}
    {{- if not .Values.persistence.enabled }}
    - name: state
      emptyDir: {}
    {{- else if not (include "jobfleet-exporter.sharded" .) }}
    - name: state
      persistentVolumeClaim:
        claimName: {{ default (printf "%s-state" (include "jobfleet-exporter.fullname" .)) .Values.persistence.existingClaim }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- range . }}
    - {{ toYaml (omit . "labelSelector") | nindent 6 | trim }}
      labelSelector:
        {{- if .labelSelector }}
        {{- toYaml .labelSelector | nindent 8 }}
        {{- else }}
        matchLabels:
          {{- include "jobfleet-exporter.selectorLabels" $ | nindent 10 }}
        {{- end }}
    {{- end }}
  {{- end }}
{{- end }}

