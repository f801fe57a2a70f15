{{- define "kommerce-operator.name" -}}kommerce-operator{{- end -}}
{{- define "kommerce-operator.labels" -}}
app.kubernetes.io/name: {{ include "kommerce-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: kommerce
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
{{- define "kommerce-operator.selector" -}}
app.kubernetes.io/name: {{ include "kommerce-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
