{{/* The chart's name, or nameOverride. */}}
{{- define "gatewayctl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: <release>-gatewayctl, or the release name when it already says gatewayctl. */}}
{{- define "gatewayctl.fullname" -}}
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

{{/*
The apply Job/CronJob and the watch Deployment/Service/ServiceMonitor: the fullname shortened so that the
API server takes them whatever the release is called. A CronJob's name may have 52 characters (its Jobs
add 11, and a Job's name becomes its pods' job-name label), a Service's 63.
*/}}
{{- define "gatewayctl.applyName" -}}
{{- printf "%s-apply" (include "gatewayctl.fullname" . | trunc 46 | trimSuffix "-") }}
{{- end }}

{{- define "gatewayctl.watchName" -}}
{{- printf "%s-watch" (include "gatewayctl.fullname" . | trunc 57 | trimSuffix "-") }}
{{- end }}

{{/* Labels on every object; gatewayctl.io/catalog is the ownership label gatewayctl's own output carries. */}}
{{- define "gatewayctl.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gatewayctl
{{- with .Values.catalogName }}
gatewayctl.io/catalog: {{ . }}
{{- end }}
{{- end }}

{{/*
Pod labels of anything that talks to Kong's Admin API. The rendered NetworkPolicy in front of the Admin API
lets in pods labelled app.kubernetes.io/name=gatewayctl-apply, so the apply Job and the watch reconciler
both carry it and differ by component. Call with (dict "ctx" $ "component" "apply").
*/}}
{{- define "gatewayctl.adminClientLabels" -}}
app.kubernetes.io/name: gatewayctl-apply
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "gatewayctl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gatewayctl.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gatewayctl.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "true" when a catalog was given (its text or a ConfigMap holding it), else empty. */}}
{{- define "gatewayctl.hasCatalog" -}}
{{- if or .Values.catalog.content .Values.catalog.existingConfigMap }}true{{ end }}
{{- end }}

{{/* The apply Job runs for Kong in DB mode once there is a catalog to apply. */}}
{{- define "gatewayctl.applyEnabled" -}}
{{- if and .Values.apply.enabled (eq .Values.kong.mode "db") (include "gatewayctl.hasCatalog" .) }}true{{ end }}
{{- end }}

{{- define "gatewayctl.catalogConfigMap" -}}
{{- default (printf "%s-catalog" (include "gatewayctl.fullname" .)) .Values.catalog.existingConfigMap }}
{{- end }}

{{/* The catalog and the files it references (${file:PATH}), in one folder: /etc/gatewayctl. */}}
{{- define "gatewayctl.catalogVolume" -}}
- name: catalog
  projected:
    sources:
      - configMap:
          name: {{ include "gatewayctl.catalogConfigMap" . }}
          items:
            - {key: catalog.yaml, path: catalog.yaml}
      {{- range .Values.catalog.secretFiles }}
      - secret:
          name: {{ .secretName }}
          items:
            - key: {{ .key }}
              path: {{ .path }}
      {{- end }}
- name: state
  emptyDir: {sizeLimit: 64Mi}
- name: tmp
  emptyDir: {sizeLimit: 64Mi}
{{- end }}

{{- define "gatewayctl.volumeMounts" -}}
- {name: catalog, mountPath: /etc/gatewayctl, readOnly: true}
- {name: state, mountPath: /var/lib/gatewayctl}
- {name: tmp, mountPath: /tmp}
{{- end }}

{{/* The Admin token and every ${env:NAME} of the catalog, each from a Secret key: never a literal value. */}}
{{- define "gatewayctl.env" -}}
- {name: GATEWAYCTL_KONG_ADMIN_URL, value: {{ .Values.kong.adminUrl | quote }}}
{{- with .Values.kong.adminToken.existingSecret }}
- name: GATEWAYCTL_KONG_ADMIN_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $.Values.kong.adminToken.key }}}
{{- end }}
{{- range .Values.catalog.secretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef: {name: {{ .secretName }}, key: {{ .key }}}
{{- end }}
{{- end }}

{{/* The apply Job's pod spec, shared by the install/upgrade Job and the CronJob. */}}
{{- define "gatewayctl.applyPod" -}}
metadata:
  labels:
    {{- include "gatewayctl.adminClientLabels" (dict "ctx" . "component" "apply") | nindent 4 }}
  annotations:
    checksum/catalog: {{ .Values.catalog.content | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "gatewayctl.serviceAccountName" . }}
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: apply
      image: {{ include "gatewayctl.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: [gatewayctl]
      args:
        - apply
        - /etc/gatewayctl/catalog.yaml
        - --yes
        - --only
        - kong
        - --state-dir
        - /var/lib/gatewayctl
        - --parallelism
        - {{ .Values.apply.parallelism | quote }}
        {{- if .Values.apply.rps }}
        - --rps
        - {{ .Values.apply.rps | quote }}
        {{- end }}
        {{- with .Values.catalog.environment }}
        - --env
        - {{ . }}
        {{- end }}
        {{- range .Values.apply.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      env:
        {{- include "gatewayctl.env" . | nindent 8 }}
      volumeMounts:
        {{- include "gatewayctl.volumeMounts" . | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
  volumes:
    {{- include "gatewayctl.catalogVolume" . | nindent 4 }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* Fails the render when the values contradict each other, with a sentence saying what to change. */}}
{{- define "gatewayctl.validate" -}}
{{- if and .Values.watch.enabled (not (include "gatewayctl.hasCatalog" .)) }}
{{- fail "watch.enabled needs the catalog: --set-file catalog.content=catalog.yaml, or catalog.existingConfigMap" }}
{{- end }}
{{- if and .Values.watch.enabled (eq .Values.kong.mode "dbless") (ne .Values.watch.only "kuma") }}
{{- fail "watch.enabled with kong.mode dbless: DB-less Kong serves its Admin API on localhost inside each Kong pod, so kong.adminUrl reaches no Kong and the watch could not check it. Set watch.only=kuma to watch the catalog's mesh only (render writes it for a DB-less catalog with a mesh), or leave watch.enabled false: DB-less Kong takes the dblessConfig Secret at start, a changed catalog is a helm upgrade and a Kong restart" }}
{{- end }}
{{- /* The API server refuses a ConfigMap whose keys and values exceed 1 MiB (1,048,576 bytes); a catalog
cannot be split over several, since gatewayctl reads it as one file. */}}
{{- $catalogBytes := add (len "catalog.yaml") (len .Values.catalog.content) }}
{{- if and .Values.catalog.content (not .Values.catalog.existingConfigMap) (gt $catalogBytes 1048576) }}
{{- fail (printf "catalog.content is %d bytes with its key, over the 1048576 (1 MiB) a ConfigMap may hold, so the API server would refuse it: shrink the catalog (comments, YAML anchors for repeated blocks) or split it into several catalogs, each with its own name and release; catalog.existingConfigMap has the same limit" $catalogBytes) }}
{{- end }}
{{- if and .Values.dblessConfig.create (ne .Values.kong.mode "dbless") }}
{{- fail "dblessConfig.create is for kong.mode dbless: Kong in DB mode gets its configuration from the apply Job" }}
{{- end }}
{{- if and .Values.dblessConfig.create (not .Values.dblessConfig.config) }}
{{- fail "dblessConfig.create needs the configuration: --set-file dblessConfig.config=OUT/kubernetes/helm/kong-dbless.yaml" }}
{{- end }}
{{- end }}
