{{/* Names ------------------------------------------------------------------ */}}

{{- define "bailiff.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every resource name: the release name, with "-bailiff" unless it
already says bailiff. Kept to 45 characters so suffixes such as "-webhook-tls" fit. */}}
{{- define "bailiff.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "bailiff.webhook.name" -}}{{ include "bailiff.fullname" . }}-webhook{{- end }}
{{- define "bailiff.auditor.name" -}}{{ include "bailiff.fullname" . }}-audit{{- end }}
{{- define "bailiff.scanner.name" -}}{{ include "bailiff.fullname" . }}-scanner{{- end }}
{{- define "bailiff.server.name" -}}{{ include "bailiff.fullname" . }}-server{{- end }}

{{/* Both webhook configurations carry this name (they are cluster-scoped). */}}
{{- define "bailiff.webhookConfiguration.name" -}}{{ include "bailiff.fullname" . }}{{- end }}

{{/* The Secret the webhook serves with, whatever the TLS mode. */}}
{{- define "bailiff.webhook.tlsSecret" -}}
{{- if eq .Values.tls.mode "secret" }}{{ .Values.tls.secretName }}{{ else }}{{ include "bailiff.webhook.name" . }}-tls{{ end }}
{{- end }}

{{- define "bailiff.scanner.tlsSecret" -}}
{{- if eq .Values.tls.mode "cert-manager" }}{{ include "bailiff.scanner.name" . }}-tls{{ else }}{{ .Values.scanner.tls.secretName }}{{ end }}
{{- end }}

{{- define "bailiff.server.tlsSecret" -}}
{{- if eq .Values.tls.mode "cert-manager" }}{{ include "bailiff.server.name" . }}-tls{{ else }}{{ .Values.server.tls.secretName }}{{ end }}
{{- end }}

{{- define "bailiff.scanner.tokenSecret" -}}
{{- default (printf "%s-token" (include "bailiff.scanner.name" .)) .Values.scanner.token.existingSecret }}
{{- end }}

{{- define "bailiff.server.adminTokenSecret" -}}
{{- default (printf "%s-admin-token" (include "bailiff.server.name" .)) .Values.server.adminToken.existingSecret }}
{{- end }}

{{/* The cluster's name: cluster.name, else the release name. */}}
{{- define "bailiff.clusterName" -}}
{{- default .Release.Name .Values.cluster.name }}
{{- end }}

{{/* Labels ----------------------------------------------------------------- */}}

{{- define "bailiff.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "bailiff.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bailiff
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: (dict "ctx" $ "component" "webhook"). */}}
{{- define "bailiff.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bailiff.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "bailiff.componentLabels" -}}
{{ include "bailiff.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Images ----------------------------------------------------------------- */}}

{{/* An image reference from {registry, repository, tag, digest}: (dict "image" ... "ctx" $). */}}
{{- define "bailiff.imageRef" -}}
{{- $ref := printf "%s/%s:%s" .image.registry .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- if .image.digest }}{{ $ref = printf "%s@%s" $ref .image.digest }}{{ end }}
{{- $ref }}
{{- end }}

{{/* TLS -------------------------------------------------------------------- */}}

{{/* Fails rendering when the TLS values contradict each other or the cluster lacks
cert-manager. helm lint renders with neither IsInstall nor IsUpgrade and no cluster, so
the cert-manager check applies to install, upgrade and template (which takes
--api-versions cert-manager.io/v1). */}}
{{- define "bailiff.checkTLS" -}}
{{- if eq .Values.tls.mode "cert-manager" }}
{{- if not .Values.tls.certManager.enabled }}
{{- fail "tls.certManager.enabled=false needs another TLS mode: set tls.mode=self-managed (the webhook creates and rotates its own CA) or tls.mode=secret (with tls.secretName and tls.caBundle)" }}
{{- end }}
{{- if and (or .Release.IsInstall .Release.IsUpgrade) (not (.Capabilities.APIVersions.Has "cert-manager.io/v1")) }}
{{- fail "tls.mode=cert-manager, but this cluster does not serve cert-manager.io/v1: install cert-manager first (https://cert-manager.io/docs/installation/), or set tls.mode=self-managed to let the webhook create and rotate its own CA (with helm template, pass --api-versions cert-manager.io/v1)" }}
{{- end }}
{{- end }}
{{- if eq .Values.tls.mode "secret" }}
{{- if or (not .Values.tls.secretName) (not .Values.tls.caBundle) }}
{{- fail "tls.mode=secret needs tls.secretName (a kubernetes.io/tls Secret in the release namespace) and tls.caBundle (the base64-encoded PEM CA that signed it)" }}
{{- end }}
{{- end }}
{{- if and .Values.webhook.url (ne .Values.tls.mode "secret") }}
{{- fail "webhook.url (an out-of-cluster webhook) needs tls.mode=secret with tls.caBundle: cert-manager and self-managed TLS serve the in-cluster Service" }}
{{- end }}
{{- if and .Values.scanner.enabled (ne .Values.tls.mode "cert-manager") (not .Values.scanner.tls.secretName) }}
{{- fail "scanner.enabled without cert-manager needs scanner.tls.secretName: a kubernetes.io/tls Secret with ca.crt for the scanner's Service" }}
{{- end }}
{{- if and .Values.server.enabled (ne .Values.tls.mode "cert-manager") (not .Values.server.tls.secretName) }}
{{- fail "server.enabled without cert-manager needs server.tls.secretName: a kubernetes.io/tls Secret with ca.crt for the server's Service" }}
{{- end }}
{{- end }}

{{/* Issuer of the chart's certificates in cert-manager mode. */}}
{{- define "bailiff.issuerRef" -}}
{{- if .Values.tls.certManager.issuerRef }}
{{- toYaml .Values.tls.certManager.issuerRef }}
{{- else }}
kind: Issuer
name: {{ include "bailiff.fullname" . }}-ca
group: cert-manager.io
{{- end }}
{{- end }}

{{/* The trail ----------------------------------------------------------------- */}}

{{/* The trail server's URL: trail.url, else the in-chart server, else empty. */}}
{{- define "bailiff.trail.url" -}}
{{- if .Values.trail.url }}{{ .Values.trail.url }}
{{- else if .Values.server.enabled }}https://{{ include "bailiff.server.name" . }}.{{ .Release.Namespace }}.svc:{{ .Values.server.service.port }}
{{- end }}
{{- end }}

{{/* Secret with the cluster's trail token (key "token"). */}}
{{- define "bailiff.trail.tokenSecret" -}}
{{- if .Values.trail.token.existingSecret }}{{ .Values.trail.token.existingSecret }}
{{- else if and .Values.server.enabled (not .Values.trail.url) }}{{ include "bailiff.fullname" . }}-cluster-token
{{- else if .Values.trail.url }}{{ fail "trail.url needs trail.token.existingSecret: a Secret whose key \"token\" holds the cluster's token (bailiff server token create --role cluster --cluster <cluster.name>)" }}
{{- end }}
{{- end }}

{{/* Secret with the CA of the trail server (key ca.crt), or empty for the system's. */}}
{{- define "bailiff.trail.caSecret" -}}
{{- if .Values.trail.ca.existingSecret }}{{ .Values.trail.ca.existingSecret }}
{{- else if and .Values.server.enabled (not .Values.trail.url) }}{{ include "bailiff.server.tlsSecret" . }}
{{- end }}
{{- end }}

{{/* Webhook operations ----------------------------------------------------- */}}

{{/*
Operations sent to the mutating webhook, as a JSON list: webhook.operations without DELETE
(nothing mutates an object being deleted), "*" spelled out as what it covers but DELETE.
*/}}
{{- define "bailiff.webhook.mutateOperations" -}}
{{- $ops := .Values.webhook.operations }}
{{- if has "*" $ops }}{{ $ops = list "CREATE" "UPDATE" "CONNECT" }}{{ end }}
{{- toJson (without $ops "DELETE") }}
{{- end }}

{{/*
"true" when the mutating webhook is registered: asked for, and left with an operation to
receive (webhook.operations: [DELETE] alone leaves it none).
*/}}
{{- define "bailiff.webhook.mutating" -}}
{{- if and .Values.webhook.mutating (ne (include "bailiff.webhook.mutateOperations" .) "[]") }}true{{ end }}
{{- end }}

{{/* Namespaces ------------------------------------------------------------- */}}

{{/* Namespaces neither admitted nor audited, comma-separated. */}}
{{- define "bailiff.exemptNamespaces" -}}
{{- $ns := list "kube-system" .Release.Namespace }}
{{- range .Values.exemptNamespaces }}{{ $ns = append $ns . }}{{ end }}
{{- join "," (uniq $ns) }}
{{- end }}

{{/* Pods ------------------------------------------------------------------- */}}

{{/* Environment every Bailiff container gets. */}}
{{- define "bailiff.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}

{{/* Topology spread constraints with the component's selector filled in:
(dict "ctx" $ "component" "webhook" "constraints" list). */}}
{{- define "bailiff.topologySpread" -}}
{{- $selector := fromYaml (include "bailiff.selectorLabels" .) }}
{{- $out := list }}
{{- range .constraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
{{- $out = append $out $c }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* The restricted NetworkPolicy egress every component needs: DNS and the API server. */}}
{{- define "bailiff.egress.base" -}}
- ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- end }}

{{- define "bailiff.egress.apiServer" -}}
- to:
{{- range .Values.networkPolicy.egress.apiServerCIDRs }}
    - ipBlock:
        cidr: {{ . | quote }}
{{- end }}
  ports:
{{- range .Values.networkPolicy.egress.apiServerPorts }}
    - {protocol: TCP, port: {{ . }}}
{{- end }}
{{- end }}

{{- define "bailiff.egress.extra" -}}
{{- with .Values.networkPolicy.egress.extraRules }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Configuration and extra policies as one projected volume mounted at
/etc/bailiff/config: config.yaml and, when there are extra policies, policies/. The
webhook and auditor watch that directory, which sees kubelet swap its ..data symlink on
every change; --policies names the policies/ symlink, so only the current files are read. */}}
{{- define "bailiff.configVolume" -}}
- name: config
  projected:
    sources:
      - configMap:
          name: {{ include "bailiff.fullname" . }}-config
          items:
            - key: config.yaml
              path: config.yaml
      {{- if .Values.policies }}
      - configMap:
          name: {{ include "bailiff.fullname" . }}-policies
          items:
            {{- range $file, $_ := .Values.policies }}
            - key: {{ $file }}
              path: policies/{{ $file }}
            {{- end }}
      {{- end }}
{{- end }}

{{- define "bailiff.configArgs" -}}
- --config=/etc/bailiff/config/config.yaml
{{- if .Values.policies }}
- --policies=/etc/bailiff/config/policies
{{- end }}
{{- end }}

{{/* Flags and mounts to reach the scanner, for the webhook and the auditor. */}}
{{- define "bailiff.scannerArgs" -}}
{{- if .Values.scanner.enabled }}
- --scanner-url=https://{{ include "bailiff.scanner.name" . }}.{{ .Release.Namespace }}.svc:8443
- --scanner-token-file=/etc/bailiff/scanner-token/token
- --scanner-ca-file=/etc/bailiff/scanner-ca/ca.crt
{{- end }}
{{- end }}

{{- define "bailiff.scannerMounts" -}}
{{- if .Values.scanner.enabled }}
- name: scanner-token
  mountPath: /etc/bailiff/scanner-token
  readOnly: true
- name: scanner-ca
  mountPath: /etc/bailiff/scanner-ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "bailiff.scannerVolumes" -}}
{{- if .Values.scanner.enabled }}
- name: scanner-token
  secret:
    secretName: {{ include "bailiff.scanner.tokenSecret" . }}
    items:
      - key: token
        path: token
- name: scanner-ca
  secret:
    secretName: {{ include "bailiff.scanner.tlsSecret" . }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}

{{/* Mounts and volumes for the trail's token and CA (webhook and auditor). */}}
{{- define "bailiff.trailMounts" -}}
{{- if include "bailiff.trail.url" . }}
- name: trail-token
  mountPath: /etc/bailiff/trail-token
  readOnly: true
{{- if include "bailiff.trail.caSecret" . }}
- name: trail-ca
  mountPath: /etc/bailiff/trail-ca
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{- define "bailiff.trailVolumes" -}}
{{- if include "bailiff.trail.url" . }}
- name: trail-token
  secret:
    secretName: {{ include "bailiff.trail.tokenSecret" . }}
    items:
      - key: token
        path: token
{{- with include "bailiff.trail.caSecret" . }}
- name: trail-ca
  secret:
    secretName: {{ . }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}
{{- end }}

{{/* The server's store DSN for PostgreSQL, from its Secret ($BAILIFF_STORE keeps the
password off the command line). */}}
{{- define "bailiff.server.storeEnv" -}}
{{- if eq .Values.server.store.type "postgres" }}
- name: BAILIFF_STORE
  valueFrom:
    secretKeyRef:
      name: {{ .Values.server.store.postgres.existingSecret }}
      key: {{ .Values.server.store.postgres.key }}
{{- end }}
{{- end }}

{{/* A serving certificate's spec for a Service: (dict "ctx" $ "service" name "extra" list). */}}
{{- define "bailiff.certificateSpec" -}}
{{- $ns := .ctx.Release.Namespace -}}
duration: {{ .ctx.Values.tls.certManager.duration }}
renewBefore: {{ .ctx.Values.tls.certManager.renewBefore }}
dnsNames:
  - {{ .service }}
  - {{ .service }}.{{ $ns }}
  - {{ .service }}.{{ $ns }}.svc
  - {{ .service }}.{{ $ns }}.svc.cluster.local
  {{- range .extra }}
  - {{ . }}
  {{- end }}
privateKey:
  algorithm: ECDSA
  size: 256
  rotationPolicy: Always
usages: [server auth, digital signature, key encipherment]
issuerRef:
  {{- include "bailiff.issuerRef" .ctx | nindent 2 }}
{{- end }}

{{/* Egress from the webhook and auditor to the scanner and the trail server. */}}
{{- define "bailiff.egress.peers" -}}
{{- if .Values.scanner.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "bailiff.selectorLabels" (dict "ctx" . "component" "scanner") | nindent 10 }}
  ports:
    - {protocol: TCP, port: 8443}
{{- end }}
{{- if and .Values.server.enabled (not .Values.trail.url) }}
- to:
    - podSelector:
        matchLabels:
          {{- include "bailiff.selectorLabels" (dict "ctx" . "component" "server") | nindent 10 }}
  ports:
    - {protocol: TCP, port: 8443}
{{- end }}
{{- if .Values.trail.url }}
{{- $host := (urlParse .Values.trail.url).host }}
{{- $port := 443 }}
{{- if regexMatch ":[0-9]+$" $host }}{{ $port = regexFind "[0-9]+$" $host | int }}{{ end }}
- ports:
    - {protocol: TCP, port: {{ $port }}}
{{- end }}
{{- end }}
