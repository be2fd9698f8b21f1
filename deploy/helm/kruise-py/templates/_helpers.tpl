{{- define "kruise-py.name" -}}kruise-py{{- end -}}
{{- define "kruise-py.labels" -}}
app.kubernetes.io/name: kruise-py
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "kruise-py.selectorLabels" -}}
app.kubernetes.io/name: kruise-py
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
