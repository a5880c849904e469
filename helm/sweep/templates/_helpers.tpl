{{/* Names and labels */}}
{{- define "sweep.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sweep.fullname" -}}
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

{{- define "sweep.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Redis */}}
{{- define "sweep.redisExternal" -}}
{{- if or .Values.redis.existingSecret .Values.redis.url }}true{{ end -}}
{{- end -}}

{{- define "sweep.redisServiceName" -}}
{{- printf "%s-redis" (include "sweep.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The SWEEP_REDIS_URL env entry; fails when Redis is configured both ways or not at all. */}}
{{- define "sweep.redisUrlEnv" -}}
{{- if and .Values.redis.enabled (include "sweep.redisExternal" .) -}}
{{- fail "redis.enabled=true (bundled Redis) and redis.url/redis.existingSecret (external Redis) are both set: set redis.enabled=false to use the external one" -}}
{{- end -}}
- name: SWEEP_REDIS_URL
{{- if .Values.redis.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- else if .Values.redis.url }}
  valueFrom:
    secretKeyRef:
      name: {{ include "sweep.fullname" . }}
      key: redis-url
{{- else if .Values.redis.enabled }}
  value: {{ printf "redis://%s:6379" (include "sweep.redisServiceName" .) | quote }}
{{- else }}
{{- fail "no Redis configured: set redis.url or redis.existingSecret for an external Redis, or redis.enabled=true for the bundled one" }}
{{- end }}
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
{{- printf "%s-identity" (include "sweep.fullname" .) -}}
{{- else if .Values.worker.identity.existingSecret -}}
{{- .Values.worker.identity.existingSecret -}}
{{- else -}}
{{- fail "worker.identity: set existingSecret (a Secret holding the provider's key file, from `sweep keygen`) or keyBase64" -}}
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
{{- fail (printf "%s: %q is not a duration; write it like 60s, 2m or 1m30s" .field $text) -}}
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
