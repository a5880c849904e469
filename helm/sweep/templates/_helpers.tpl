{{/* Names and labels */}}
{{- define "sweep.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The release's base name, at most 43 characters: the longest suffix added to it is
"-coordinator-metrics" (20), and Service names must stay within 63. The Redis StatefulSet
("-redis") also leaves room for its pod ordinal and its controller-revision-hash label (+11).
*/}}
{{- define "sweep.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 43 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 43 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 43 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Stops rendering with msg, in `helm template`/`install` and in `helm lint` alike. Lint runs the
templates in lint mode, where `fail` and `required` only log at INFO level and the chart passes;
a missing template is still an error there, so the message is carried in that template's name.
*/}}
{{- define "sweep.fail" -}}
{{- fail . -}}
{{- include (printf "values error: %s" .) dict -}}
{{- end -}}

{{- define "sweep.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "sweep.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "worker") */}}
{{- define "sweep.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sweep.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sweep.componentLabels" -}}
{{ include "sweep.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sweep.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sweep.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* toString: a tag given as a number (--set image.tag=2) would otherwise print as %!s(float64=2) */}}
{{- define "sweep.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) -}}
{{- end -}}

{{/* Name of one component's object: (dict "root" $ "suffix" "worker") */}}
{{- define "sweep.componentName" -}}
{{- printf "%s-%s" (include "sweep.fullname" .root) .suffix -}}
{{- end -}}

{{/* Redis */}}
{{- define "sweep.redisExternal" -}}
{{- if or .Values.redis.existingSecret .Values.redis.url }}true{{ end -}}
{{- end -}}

{{- define "sweep.redisServiceName" -}}
{{- include "sweep.componentName" (dict "root" . "suffix" "redis") -}}
{{- end -}}

{{/* The bundled Redis has a password (the default): where it lives */}}
{{- define "sweep.redisAuth" -}}
{{- if and .Values.redis.enabled .Values.redis.auth.enabled }}true{{ end -}}
{{- end -}}

{{- define "sweep.redisPasswordSecretName" -}}
{{- default (include "sweep.fullname" .) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{- define "sweep.redisPasswordSecretKey" -}}
{{- if .Values.redis.auth.existingSecret }}{{ .Values.redis.auth.existingSecretKey }}{{ else }}redis-password{{ end -}}
{{- end -}}

{{/* An env entry NAME holding the bundled Redis's password, read from its Secret */}}
{{- define "sweep.redisPasswordEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "sweep.redisPasswordSecretName" .root }}
      key: {{ include "sweep.redisPasswordSecretKey" .root }}
{{- end -}}

{{/*
The SWEEP_REDIS_URL env entry. For the bundled Redis the password stays in its Secret: the URL
names $(REDIS_PASSWORD), which the kubelet expands from the env entry before it.
*/}}
{{- define "sweep.redisUrlEnv" -}}
{{- if .Values.redis.existingSecret }}
- name: SWEEP_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- else if .Values.redis.url }}
- name: SWEEP_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "sweep.fullname" . }}
      key: redis-url
{{- else if include "sweep.redisAuth" . }}
{{ include "sweep.redisPasswordEnv" (dict "root" . "name" "REDIS_PASSWORD") }}
- name: SWEEP_REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:6379" (include "sweep.redisServiceName" .) | quote }}
{{- else }}
- name: SWEEP_REDIS_URL
  value: {{ printf "redis://%s:6379" (include "sweep.redisServiceName" .) | quote }}
{{- end }}
{{- end -}}

{{/*
A Kubernetes memory quantity (4Gi, 512Mi, 3G, 1073741824) in bytes:
(dict "field" "redis.resources.limits.memory" "value" "4Gi")
*/}}
{{- define "sweep.quantityBytes" -}}
{{- $text := toString .value -}}
{{- $parts := regexFindAll "^([0-9]+([.][0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$" $text 1 -}}
{{- if not $parts -}}
{{- include "sweep.fail" (printf "%s: '%s' is not a memory quantity like 4Gi or 512Mi" .field $text) -}}
{{- end -}}
{{- $number := regexFind "^[0-9.]+" $text -}}
{{- $unit := trimPrefix $number $text -}}
{{- $perUnit := get (dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776) $unit -}}
{{- mulf (float64 $number) $perUnit | floor | int64 -}}
{{- end -}}

{{/* redis-server's maxmemory: redis.maxmemory, or redis.maxmemoryPercent of the container's memory limit */}}
{{- define "sweep.redisMaxmemory" -}}
{{- $r := .Values.redis -}}
{{- if $r.maxmemory -}}
{{- $r.maxmemory -}}
{{- else -}}
{{- $limit := dig "limits" "memory" "" ($r.resources | default dict) -}}
{{- if not $limit -}}
{{- include "sweep.fail" "redis.maxmemory is empty and redis.resources.limits.memory is not set: set one, so Redis refuses writes before the kernel kills it" -}}
{{- end -}}
{{- $bytes := include "sweep.quantityBytes" (dict "field" "redis.resources.limits.memory" "value" $limit) | float64 -}}
{{- divf (mulf $bytes $r.maxmemoryPercent) 100 | floor | int64 -}}
{{- end -}}
{{- end -}}

{{/* API token: where SWEEP_API_TOKEN comes from, if anywhere */}}
{{- define "sweep.apiTokenInChartSecret" -}}
{{- $t := .Values.coordinator.apiToken -}}
{{- if and (not $t.existingSecret) (or $t.value $t.generate) }}true{{ end -}}
{{- end -}}

{{- define "sweep.apiTokenEnv" -}}
{{- $t := .Values.coordinator.apiToken -}}
{{- if $t.existingSecret }}
- name: SWEEP_API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $t.existingSecret }}
      key: {{ $t.existingSecretKey }}
{{- else if include "sweep.apiTokenInChartSecret" . }}
- name: SWEEP_API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "sweep.fullname" . }}
      key: api-token
{{- end }}
{{- end -}}

{{/* Identity Secret (name and key) the workers mount */}}
{{- define "sweep.identitySecretName" -}}
{{- if .Values.worker.identity.keyBase64 -}}
{{- include "sweep.componentName" (dict "root" . "suffix" "identity") -}}
{{- else if .Values.worker.identity.existingSecret -}}
{{- .Values.worker.identity.existingSecret -}}
{{- else -}}
{{- include "sweep.fail" "worker.identity: set existingSecret (a Secret holding the provider's key file, from `sweep keygen`) or keyBase64" -}}
{{- end -}}
{{- end -}}

{{- define "sweep.identitySecretKey" -}}
{{- if .Values.worker.identity.keyBase64 }}identity.key{{ else }}{{ .Values.worker.identity.existingSecretKey }}{{ end -}}
{{- end -}}

{{/* A list of multiaddrs (or one comma-separated string) as one comma-separated string */}}
{{- define "sweep.commaList" -}}
{{- if kindIs "string" . }}{{ . }}{{ else if . }}{{ join "," . }}{{ end -}}
{{- end -}}

{{/*
Whole seconds in a duration as sweep parses it (60s, 2m, 1h30m, 1.5m, 1500ms, 1d), rounded up:
(dict "field" "worker.shutdownGrace" "value" "60s")
*/}}
{{- define "sweep.durationSeconds" -}}
{{- $text := toString .value -}}
{{- if not (regexMatch "^([0-9]+([.][0-9]+)?(ms|s|m|h|d))+$" $text) -}}
{{- include "sweep.fail" (printf "%s: '%s' is not a duration; write it like 60s, 2m or 1m30s" .field $text) -}}
{{- end -}}
{{- $ms := 0.0 -}}
{{- range regexFindAll "[0-9]+([.][0-9]+)?(ms|s|m|h|d)" $text -1 -}}
{{- $number := regexFind "^[0-9.]+" . -}}
{{- $perUnit := get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000) (trimPrefix $number .) -}}
{{- $ms = addf $ms (mulf (float64 $number) $perUnit) -}}
{{- end -}}
{{- divf $ms 1000 | ceil | int -}}
{{- end -}}

{{/* Env shared by all sweep processes */}}
{{- define "sweep.commonEnv" -}}
- name: SWEEP_NAMESPACE
  value: {{ .Values.keyNamespace | quote }}
- name: SWEEP_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if .Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.otel.endpoint | quote }}
{{- end }}
{{- end -}}

{{/* Pod annotations for annotation-based Prometheus scraping */}}
{{- define "sweep.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ . | quote }}
prometheus.io/path: /metrics
{{- end -}}

{{/* What the chart's Secret is made of, as given in values (generated parts left out) */}}
{{- define "sweep.secretInputs" -}}
{{- toJson (dict "redisUrl" .Values.redis.url "apiToken" .Values.coordinator.apiToken.value) -}}
{{- end -}}
