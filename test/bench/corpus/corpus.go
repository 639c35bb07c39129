// Package corpus generates realistic Kubernetes manifests for benchmarks: Deployments
// with three containers, Pods, Roles, RoleBindings, Services and ConfigMaps, about a
// fifth of them breaking a policy.
package corpus

import (
	"fmt"
	"strings"
)

// Stream returns n objects as one multi-document YAML stream.
func Stream(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.WriteString(Object(i))
	}
	return b.String()
}

// Object returns the i-th manifest of the stream.
func Object(i int) string {
	bad := i%5 == 0
	ns := fmt.Sprintf("team-%d", i%20)
	switch i % 10 {
	case 0, 1, 2, 3:
		image := fmt.Sprintf("registry.example.com/shop/api:1.4.%d", i%7)
		if bad {
			image = "docker.io/library/nginx:latest"
		}
		return fmt.Sprintf(deployment, i, ns, i, i, i, image)
	case 4, 5:
		privileged := "false"
		if bad {
			privileged = "true"
		}
		return fmt.Sprintf(pod, i, ns, privileged)
	case 6:
		verbs := "[get, list, watch]"
		if bad {
			verbs = `["*"]`
		}
		return fmt.Sprintf(role, i, ns, verbs)
	case 7:
		return fmt.Sprintf(roleBinding, i, ns, i)
	case 8:
		return fmt.Sprintf(service, i, ns, i)
	default:
		return fmt.Sprintf(configMap, i, ns, i)
	}
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api-%d
  namespace: %s
  labels: {app: api-%d}
spec:
  replicas: 3
  selector:
    matchLabels: {app: api-%d}
  template:
    metadata:
      labels: {app: api-%d}
    spec:
      serviceAccountName: api
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: api
          image: %s
          ports: [{containerPort: 8080, name: http}]
          env: [{name: LOG_LEVEL, value: info}, {name: PORT, value: "8080"}]
          resources:
            requests: {cpu: 250m, memory: 256Mi}
            limits: {memory: 512Mi}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          readinessProbe:
            httpGet: {path: /healthz, port: 8080}
        - name: sidecar
          image: registry.example.com/platform/envoy:1.31.2
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 256Mi}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
        - name: metrics
          image: ghcr.io/acme/metrics-exporter:0.9.0
          resources:
            requests: {cpu: 50m, memory: 64Mi}
            limits: {memory: 128Mi}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
`

const pod = `apiVersion: v1
kind: Pod
metadata:
  name: worker-%d
  namespace: %s
spec:
  serviceAccountName: worker
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: worker
      image: registry.example.com/shop/worker:2.0.1
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {memory: 256Mi}
      securityContext:
        privileged: %s
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL]}
`

const role = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader-%d
  namespace: %s
rules:
  - apiGroups: [""]
    resources: [configmaps, services]
    verbs: %s
`

const roleBinding = `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader-%d
  namespace: %s
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader-%d}
subjects:
  - {kind: ServiceAccount, name: api}
`

const service = `apiVersion: v1
kind: Service
metadata:
  name: api-%d
  namespace: %s
spec:
  selector: {app: api-%d}
  ports: [{port: 80, targetPort: 8080}]
`

const configMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-%d
  namespace: %s
data:
  feature: "on"
  replica: "%d"
`
