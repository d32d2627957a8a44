{{/* The chart name. */}}
{{- define "parley.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's resources. */}}
{{- define "parley.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "parley.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels (stable across upgrades). */}}
{{- define "parley.selectorLabels" -}}
app.kubernetes.io/name: {{ include "parley.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "parley.labels" -}}
helm.sh/chart: {{ include "parley.chart" . }}
{{ include "parley.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: parley
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "parley.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "parley.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "parley.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret the env vars come from ("" when there is none). */}}
{{- define "parley.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if .Values.secrets.data }}
{{- include "parley.fullname" . }}
{{- end }}
{{- end }}

{{- define "parley.policyConfigMap" -}}
{{- default (printf "%s-policies" (include "parley.fullname" .)) .Values.policy.existingConfigMap }}
{{- end }}

{{/* Where the SIP TLS Secret (sip.tls.secretName) is mounted. */}}
{{- define "parley.sipTlsDir" -}}
/etc/parley/sip-tls
{{- end }}

{{/* "true" when SIP over TLS is on (sip.enabled and sip.tls.enabled), else "". */}}
{{- define "parley.sipTls" -}}
{{- if and .Values.sip.enabled .Values.sip.tls .Values.sip.tls.enabled }}true{{ end }}
{{- end }}

{{/* "true" when state lives in the embedded SQLite file (no store.redis), else "". */}}
{{- define "parley.sqlite" -}}
{{- if not .Values.store.redis }}true{{ end }}
{{- end }}

{{/* The SQLite database file, on the persistence volume. */}}
{{- define "parley.sqlitePath" -}}
{{- printf "%s/parley.db" .Values.persistence.mountPath }}
{{- end }}

{{/* The claim the SQLite volume uses ("" when persistence is off). */}}
{{- define "parley.dataClaim" -}}
{{- if .Values.persistence.enabled }}
{{- default (printf "%s-data" (include "parley.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}
{{- end }}

{{/* parley.yaml, rendered from the values (schema: src/config.ts). */}}
{{- define "parley.config" -}}
{{- $cfg := dict }}
{{- $store := dict }}
{{- if .Values.store.redis }}
{{- $_ := set $store "redis" .Values.store.redis }}
{{- else }}
{{- $_ := set $store "sqlite" (include "parley.sqlitePath" .) }}
{{- end }}
{{- /* The URL (with its password) comes from the archive Secret as an environment variable. */}}
{{- with .Values.archive }}
{{- if .existingSecret }}
{{- $_ := set $store "archive" (dict "url" "${PARLEY_ARCHIVE_URL}" "schema" .schema "partition" .partition "poolMax" (int .poolMax) "statementTimeoutMs" (int .statementTimeoutMs)) }}
{{- end }}
{{- end }}
{{- $_ := set $cfg "store" $store }}
{{- $tokens := dict "admin" "${PARLEY_ADMIN_TOKEN:-}" "auditor" "${PARLEY_AUDITOR_TOKEN:-}" }}
{{- $_ := set $cfg "http" (dict "listen" (printf "0.0.0.0:%d" (int .Values.http.port)) "tokens" $tokens "bodyLimit" (int .Values.http.bodyLimit)) }}
{{- $_ := set $cfg "log" (dict "level" .Values.log.level) }}
{{- $_ := set $cfg "policy" (dict "file" (printf "/etc/parley/policies/%s" .Values.policy.file) "watch" .Values.policy.watch) }}
{{- $_ := set $cfg "audit" (dict "content" .Values.audit.content "failClosed" .Values.audit.failClosed) }}
{{- $adapters := dict }}
{{- range $name, $a := .Values.adapters }}
{{- $b := deepCopy $a }}
{{- if and (eq $a.type "matrix") (not (hasKey $a "listen")) }}
{{- $_ := set $b "listen" (printf "0.0.0.0:%d" (int $.Values.matrix.port)) }}
{{- end }}
{{- /* The homeserver reaches the appservice through the Service, not the pod's listen address. */}}
{{- if and (eq $a.type "matrix") (not (hasKey $a "url")) }}
{{- $_ := set $b "url" (printf "http://%s.%s.svc:%d" (include "parley.fullname" $) $.Release.Namespace (int $.Values.matrix.port)) }}
{{- end }}
{{- if and (eq $a.type "sip") (not (hasKey $a "listen")) }}
{{- $l := list }}
{{- if $.Values.sip.udp }}{{ $l = append $l (printf "udp://0.0.0.0:%d" (int $.Values.sip.port)) }}{{ end }}
{{- if $.Values.sip.tcp }}{{ $l = append $l (printf "tcp://0.0.0.0:%d" (int $.Values.sip.port)) }}{{ end }}
{{- if include "parley.sipTls" $ }}{{ $l = append $l (printf "tls://0.0.0.0:%d" (int $.Values.sip.tls.port)) }}{{ end }}
{{- $_ := set $b "listen" $l }}
{{- end }}
{{- /* The mounted Secret; absolute paths (relative ones would resolve against the config's folder). */}}
{{- if and (eq $a.type "sip") (include "parley.sipTls" $) (not (hasKey $a "tls")) }}
{{- $dir := include "parley.sipTlsDir" $ }}
{{- $tls := dict "certFile" (printf "%s/tls.crt" $dir) "keyFile" (printf "%s/tls.key" $dir) }}
{{- if $.Values.sip.tls.caFromSecret }}{{ $_ := set $tls "caFile" (printf "%s/ca.crt" $dir) }}{{ end }}
{{- $_ := set $b "tls" $tls }}
{{- end }}
{{- $_ := set $adapters $name $b }}
{{- end }}
{{- $_ := set $cfg "adapters" $adapters }}
{{- toYaml $cfg }}
{{- end }}

{{/* The policy files: the chart's files/policies/*.yaml with policy.files over them. */}}
{{- define "parley.policyFiles" -}}
{{- $files := dict }}
{{- range $path, $_ := .Files.Glob "files/policies/*.yaml" }}
{{- $_ := set $files (base $path) ($.Files.Get $path) }}
{{- end }}
{{- range $name, $text := .Values.policy.files }}
{{- $_ := set $files $name $text }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{/* Container security context shared by Parley and the test pod. */}}
{{- define "parley.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}
