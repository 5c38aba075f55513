{{/* Partials, as in a Helm chart's _helpers.tpl: text outside define is ignored. */}}
{{- define "webapp.fullname" -}}
{{ printf "%s-%s" .metadata.name .spec.env | trunc 40 | trimSuffix "-" }}
{{- end }}

{{- define "webapp.labels" -}}
app.kubernetes.io/name: webapp
app.kubernetes.io/instance: {{ .metadata.name }}
app.kubernetes.io/version: {{ .promise.version | quote }}
{{- range $k, $v := .spec.labels }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end }}

{{- define "webapp.selector" -}}
app.kubernetes.io/name: webapp
app.kubernetes.io/instance: {{ .metadata.name }}
{{- end }}
