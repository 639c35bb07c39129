// Package podgen generates pods for differential tests: from every value worth trying
// of each field the Pod Security Standards look at (allowed, forbidden, odd spellings,
// empty, unset), so that the policies can be compared with upstream Pod Security
// Admission (policies/podsecurity_diff_test.go) and the evaluators with each other
// (pkg/policy/evaluators_test.go) on the same pods.
package podgen

import (
	"fmt"
	"math/rand/v2"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Generator generates pods from a seeded source. Each field is drawn either "wild" (from
// every value worth trying: allowed, forbidden, odd spellings, empty, unset) or "tame"
// (a value the restricted level accepts), wild with the pod's probability q, so the
// generated pods range from fully compliant to violating everything, with many that
// violate exactly one thing.
type Generator struct {
	r *rand.Rand
	q float64
}

// New returns a generator drawing from r: the same source gives the same pods.
func New(r *rand.Rand) *Generator { return &Generator{r: r} }

func (g *Generator) wild() bool { return g.r.Float64() < g.q }

func (g *Generator) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *Generator, xs ...T) T { return xs[g.r.IntN(len(xs))] }

func several[T any](g *Generator, max int, xs ...T) []T {
	n := g.r.IntN(max + 1)
	out := make([]T, 0, n)
	for range n {
		out = append(out, pick(g, xs...))
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// orNil returns nil or a pointer to one of xs.
func orNil[T any](g *Generator, xs ...T) *T {
	if g.chance(1 / float64(len(xs)+1)) {
		return nil
	}
	return ptr(pick(g, xs...))
}

var (
	wildCapabilities = []corev1.Capability{
		"NET_RAW", "SYS_ADMIN", "CHOWN", "NET_BIND_SERVICE", "KILL", "AUDIT_WRITE", "SYS_CHROOT",
		"SETUID", "MKNOD", "BPF", "net_raw", "CAP_SYS_ADMIN", "net_bind_service", "", "ALL",
	}
	wildDrops         = []corev1.Capability{"ALL", "all", "NET_RAW", "", "CAP_ALL", "SYS_ADMIN"}
	seccompTypes      = []corev1.SeccompProfileType{"RuntimeDefault", "Localhost", "Unconfined", "", "runtime/default", "runtimedefault"}
	appArmorTypes     = []corev1.AppArmorProfileType{"RuntimeDefault", "Localhost", "Unconfined", "", "localhost/foo"}
	appArmorValues    = []string{"runtime/default", "localhost/prof", "unconfined", "", "docker/default", "localhost", "Localhost/x", "localhost/"}
	seccompValues     = []string{"runtime/default", "unconfined", "docker/default", "localhost/p", "bogus", ""}
	seLinuxTypes      = []string{"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t", "spc_t", "unconfined_t", "CONTAINER_T"}
	procMounts        = []corev1.ProcMountType{"Default", "Unmasked", "", "default"}
	safeSysctls       = []string{"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
	unsafeSysctls     = []string{"kernel.msgmax", "net.ipv4.ip_forward", "", "net/ipv4/tcp_syncookies", "kernel.shm_rmid_forced ", "net.core.somaxconn", "vm.max_map_count"}
	hostPorts         = []int32{0, 80, 8080, 65535, -1}
	probeHosts        = []string{"", "127.0.0.1", "example.com", "0.0.0.0", " "}
	runAsUsers        = []int64{0, 1, 1000, 65534}
	tameRunAsUsers    = []int64{1, 1000, 65534}
	osNames           = []corev1.OSName{"linux", "windows", "Windows", "", "darwin"}
	tameOSNames       = []corev1.OSName{"linux", "windows"}
	allowedSources    = []string{"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim", "projected", "secret"}
	restrictedSources = []string{"hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi", "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos"}
)

// setVolumeSource sets one volume source, by its JSON name, on v.
func setVolumeSource(v *corev1.VolumeSource, name string) {
	switch name {
	case "configMap":
		v.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}
	case "csi":
		v.CSI = &corev1.CSIVolumeSource{Driver: "csi.example.com"}
	case "downwardAPI":
		v.DownwardAPI = &corev1.DownwardAPIVolumeSource{}
	case "emptyDir":
		v.EmptyDir = &corev1.EmptyDirVolumeSource{}
	case "ephemeral":
		v.Ephemeral = &corev1.EphemeralVolumeSource{}
	case "image":
		v.Image = &corev1.ImageVolumeSource{Reference: "registry.example.com/data:1"}
	case "persistentVolumeClaim":
		v.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}
	case "projected":
		v.Projected = &corev1.ProjectedVolumeSource{}
	case "secret":
		v.Secret = &corev1.SecretVolumeSource{SecretName: "s"}
	case "hostPath":
		v.HostPath = &corev1.HostPathVolumeSource{Path: "/var/run"}
	case "gcePersistentDisk":
		v.GCEPersistentDisk = &corev1.GCEPersistentDiskVolumeSource{PDName: "pd"}
	case "awsElasticBlockStore":
		v.AWSElasticBlockStore = &corev1.AWSElasticBlockStoreVolumeSource{VolumeID: "vol"}
	case "gitRepo":
		v.GitRepo = &corev1.GitRepoVolumeSource{Repository: "https://example.com/r.git"}
	case "nfs":
		v.NFS = &corev1.NFSVolumeSource{Server: "nfs", Path: "/"}
	case "iscsi":
		v.ISCSI = &corev1.ISCSIVolumeSource{TargetPortal: "t", IQN: "iqn", Lun: 0}
	case "glusterfs":
		v.Glusterfs = &corev1.GlusterfsVolumeSource{EndpointsName: "e", Path: "p"}
	case "rbd":
		v.RBD = &corev1.RBDVolumeSource{CephMonitors: []string{"m"}, RBDImage: "i"}
	case "flexVolume":
		v.FlexVolume = &corev1.FlexVolumeSource{Driver: "d"}
	case "cinder":
		v.Cinder = &corev1.CinderVolumeSource{VolumeID: "v"}
	case "cephfs":
		v.CephFS = &corev1.CephFSVolumeSource{Monitors: []string{"m"}}
	case "flocker":
		v.Flocker = &corev1.FlockerVolumeSource{DatasetName: "d"}
	case "fc":
		v.FC = &corev1.FCVolumeSource{}
	case "azureFile":
		v.AzureFile = &corev1.AzureFileVolumeSource{SecretName: "s", ShareName: "sh"}
	case "vsphereVolume":
		v.VsphereVolume = &corev1.VsphereVirtualDiskVolumeSource{VolumePath: "p"}
	case "quobyte":
		v.Quobyte = &corev1.QuobyteVolumeSource{Registry: "r", Volume: "v"}
	case "azureDisk":
		v.AzureDisk = &corev1.AzureDiskVolumeSource{DiskName: "d", DataDiskURI: "u"}
	case "photonPersistentDisk":
		v.PhotonPersistentDisk = &corev1.PhotonPersistentDiskVolumeSource{PdID: "p"}
	case "portworxVolume":
		v.PortworxVolume = &corev1.PortworxVolumeSource{VolumeID: "v"}
	case "scaleIO":
		v.ScaleIO = &corev1.ScaleIOVolumeSource{Gateway: "g", System: "s", SecretRef: &corev1.LocalObjectReference{Name: "s"}}
	case "storageos":
		v.StorageOS = &corev1.StorageOSVolumeSource{VolumeName: "v"}
	default:
		panic("unknown volume source " + name)
	}
}

func (g *Generator) volume(i int) corev1.Volume {
	v := corev1.Volume{Name: fmt.Sprintf("vol%d", i)}
	if !g.wild() {
		setVolumeSource(&v.VolumeSource, pick(g, allowedSources...))
		return v
	}
	switch g.r.IntN(10) {
	case 0: // no source at all
	case 1, 2: // two sources, as an unvalidated object may have
		setVolumeSource(&v.VolumeSource, pick(g, append(allowedSources, restrictedSources...)...))
		setVolumeSource(&v.VolumeSource, pick(g, append(allowedSources, restrictedSources...)...))
	case 3, 4: // the one that matters most
		setVolumeSource(&v.VolumeSource, "hostPath")
	default:
		setVolumeSource(&v.VolumeSource, pick(g, append(allowedSources, restrictedSources...)...))
	}
	return v
}

func (g *Generator) seccomp(tame bool) *corev1.SeccompProfile {
	if tame {
		t := pick(g, corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeLocalhost)
		p := &corev1.SeccompProfile{Type: t}
		if t == corev1.SeccompProfileTypeLocalhost {
			p.LocalhostProfile = ptr("profiles/audit.json")
		}
		return p
	}
	if g.chance(0.25) {
		return nil
	}
	return &corev1.SeccompProfile{Type: pick(g, seccompTypes...)}
}

func (g *Generator) appArmor() *corev1.AppArmorProfile {
	if !g.wild() {
		return pick(g, nil, &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault},
			&corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr("k8s-web")})
	}
	if g.chance(0.2) {
		return nil
	}
	return &corev1.AppArmorProfile{Type: pick(g, appArmorTypes...)}
}

func (g *Generator) seLinux() *corev1.SELinuxOptions {
	if !g.wild() {
		if g.chance(0.6) {
			return nil
		}
		return &corev1.SELinuxOptions{Type: pick(g, seLinuxTypes[:5]...), Level: pick(g, "", "s0:c123,c456")}
	}
	if g.chance(0.2) {
		return nil
	}
	return &corev1.SELinuxOptions{
		Type:  pick(g, seLinuxTypes...),
		User:  pick(g, "", "", "system_u"),
		Role:  pick(g, "", "", "system_r"),
		Level: pick(g, "", "s0:c1"),
	}
}

func (g *Generator) windowsOptions() *corev1.WindowsSecurityContextOptions {
	if !g.wild() {
		return pick(g, nil, &corev1.WindowsSecurityContextOptions{HostProcess: ptr(false)},
			&corev1.WindowsSecurityContextOptions{RunAsUserName: ptr("ContainerUser")})
	}
	return pick(g, nil, &corev1.WindowsSecurityContextOptions{},
		&corev1.WindowsSecurityContextOptions{HostProcess: ptr(true)},
		&corev1.WindowsSecurityContextOptions{HostProcess: ptr(false)})
}

func (g *Generator) boolPtr(tame *bool) *bool {
	if g.wild() {
		return pick(g, nil, ptr(true), ptr(false))
	}
	return tame
}

// podShape is what the pod-level choices imply for its containers' tame values.
type podShape struct {
	windows       bool // spec.os.name == "windows": some restricted fields may stay unset
	podNonRoot    bool // the pod sets runAsNonRoot: true
	podSeccompSet bool // the pod sets an allowed seccomp profile
}

func (g *Generator) securityContext(shape podShape) *corev1.SecurityContext {
	if g.wild() && g.chance(0.3) {
		return pick(g, nil, &corev1.SecurityContext{})
	}
	sc := &corev1.SecurityContext{}
	tameOptional := shape.windows && g.chance(0.5) // Windows pods may leave these unset

	if !tameOptional {
		sc.AllowPrivilegeEscalation = ptr(false)
	}
	sc.AllowPrivilegeEscalation = g.boolPtr(sc.AllowPrivilegeEscalation)

	if g.wild() {
		if !g.chance(0.2) {
			sc.Capabilities = &corev1.Capabilities{Add: several(g, 2, wildCapabilities...), Drop: several(g, 2, wildDrops...)}
		}
	} else if !tameOptional {
		sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
		if g.chance(0.3) {
			sc.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"}
		}
	}

	if !shape.podNonRoot || g.chance(0.3) {
		sc.RunAsNonRoot = ptr(true)
	}
	sc.RunAsNonRoot = g.boolPtr(sc.RunAsNonRoot)

	if g.wild() {
		sc.RunAsUser = orNil(g, runAsUsers...)
	} else if g.chance(0.4) {
		sc.RunAsUser = ptr(pick(g, tameRunAsUsers...))
	}

	switch {
	case g.wild():
		sc.SeccompProfile = g.seccomp(false)
	case !shape.podSeccompSet && !tameOptional || g.chance(0.2):
		sc.SeccompProfile = g.seccomp(true)
	}

	sc.Privileged = g.boolPtr(pick(g, nil, ptr(false)))
	if g.wild() {
		sc.ProcMount = orNil(g, procMounts...)
	} else if g.chance(0.3) {
		sc.ProcMount = ptr(corev1.DefaultProcMount)
	}
	sc.AppArmorProfile = g.appArmor()
	sc.SELinuxOptions = g.seLinux()
	sc.WindowsOptions = g.windowsOptions()
	if g.chance(0.3) {
		sc.ReadOnlyRootFilesystem = ptr(g.chance(0.5))
	}
	return sc
}

func (g *Generator) handler() (httpGet *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction) {
	host := ""
	if g.wild() {
		host = pick(g, probeHosts...)
	}
	if g.chance(0.5) {
		return &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080), Host: host}, nil
	}
	return nil, &corev1.TCPSocketAction{Port: intstr.FromString("http"), Host: host}
}

func (g *Generator) probe() *corev1.Probe {
	if g.chance(0.5) {
		return nil
	}
	p := &corev1.Probe{PeriodSeconds: 10}
	switch g.r.IntN(4) {
	case 0:
		p.Exec = &corev1.ExecAction{Command: []string{"true"}}
	case 1:
		p.GRPC = &corev1.GRPCAction{Port: 9090}
	default:
		p.HTTPGet, p.TCPSocket = g.handler()
	}
	return p
}

func (g *Generator) lifecycleHandler() *corev1.LifecycleHandler {
	if g.chance(0.5) {
		return nil
	}
	h := &corev1.LifecycleHandler{}
	switch g.r.IntN(4) {
	case 0:
		h.Sleep = &corev1.SleepAction{Seconds: 1}
	case 1:
		h.Exec = &corev1.ExecAction{Command: []string{"true"}}
	default:
		h.HTTPGet, h.TCPSocket = g.handler()
	}
	return h
}

func (g *Generator) container(name string, shape podShape) corev1.Container {
	c := corev1.Container{Name: name, Image: "registry.example.com/app:1"}
	if !(shape.podNonRoot && shape.podSeccompSet && shape.windows && g.chance(0.3)) {
		c.SecurityContext = g.securityContext(shape)
	}
	for i := range g.r.IntN(3) {
		port := corev1.ContainerPort{Name: fmt.Sprintf("p%d", i), ContainerPort: 8080 + int32(i)}
		if g.wild() {
			port.HostPort = pick(g, hostPorts...)
		}
		c.Ports = append(c.Ports, port)
	}
	c.LivenessProbe, c.ReadinessProbe, c.StartupProbe = g.probe(), g.probe(), g.probe()
	if g.chance(0.4) {
		c.Lifecycle = &corev1.Lifecycle{PostStart: g.lifecycleHandler(), PreStop: g.lifecycleHandler()}
	}
	return c
}

// pod generates pod number i.
func (g *Generator) Pod(i int) *corev1.Pod {
	g.q = pick(g, 0, 0, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1)
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: "default", Annotations: map[string]string{}},
	}
	spec := &pod.Spec

	if g.wild() {
		if g.chance(0.8) {
			spec.OS = &corev1.PodOS{Name: pick(g, osNames...)}
		}
	} else if g.chance(0.5) {
		spec.OS = &corev1.PodOS{Name: pick(g, tameOSNames...)}
	}
	spec.HostUsers = pick(g, nil, ptr(true), ptr(false)) // every value is allowed
	spec.HostNetwork = g.wild() && g.chance(0.5)
	spec.HostPID = g.wild() && g.chance(0.5)
	spec.HostIPC = g.wild() && g.chance(0.5)
	shape := podShape{windows: spec.OS != nil && spec.OS.Name == corev1.Windows}

	// The pod's securityContext.
	if !(g.wild() && g.chance(0.3)) {
		sc := &corev1.PodSecurityContext{}
		if g.chance(0.6) {
			sc.RunAsNonRoot = ptr(true)
		}
		sc.RunAsNonRoot = g.boolPtr(sc.RunAsNonRoot)
		shape.podNonRoot = sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
		if g.wild() {
			sc.RunAsUser = orNil(g, runAsUsers...)
		} else if g.chance(0.4) {
			sc.RunAsUser = ptr(pick(g, tameRunAsUsers...))
		}
		if g.wild() {
			sc.SeccompProfile = g.seccomp(false)
		} else if g.chance(0.6) {
			sc.SeccompProfile = g.seccomp(true)
		}
		shape.podSeccompSet = sc.SeccompProfile != nil &&
			(sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault || sc.SeccompProfile.Type == corev1.SeccompProfileTypeLocalhost)
		sc.AppArmorProfile = g.appArmor()
		sc.SELinuxOptions = g.seLinux()
		sc.WindowsOptions = g.windowsOptions()
		for range g.r.IntN(3) {
			name := pick(g, safeSysctls...)
			if g.wild() {
				name = pick(g, append(safeSysctls, unsafeSysctls...)...)
			}
			sc.Sysctls = append(sc.Sysctls, corev1.Sysctl{Name: name, Value: "1"})
		}
		if g.chance(0.3) {
			sc.FSGroup = ptr(int64(2000))
		}
		spec.SecurityContext = sc
	}

	for j := range g.r.IntN(4) {
		spec.Volumes = append(spec.Volumes, g.volume(j))
	}
	for j := range 1 + g.r.IntN(3) {
		spec.Containers = append(spec.Containers, g.container(fmt.Sprintf("app%d", j), shape))
	}
	for j := range g.r.IntN(3) {
		spec.InitContainers = append(spec.InitContainers, g.container(fmt.Sprintf("init%d", j), shape))
	}
	if g.chance(0.3) {
		for j := range 1 + g.r.IntN(2) {
			c := g.container(fmt.Sprintf("debug%d", j), shape)
			spec.EphemeralContainers = append(spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon(c),
				TargetContainerName:      "app0",
			})
		}
	}

	// Annotations: AppArmor ones (read by upstream), seccomp ones (no longer read), others.
	names := []string{"app0", "app1", "init0", "debug0", "ghost"}
	for range g.r.IntN(3) {
		value := pick(g, "runtime/default", "localhost/prof", "")
		if g.wild() {
			value = pick(g, appArmorValues...)
		}
		pod.Annotations[corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix+pick(g, names...)] = value
	}
	if g.chance(0.3) {
		pod.Annotations["seccomp.security.alpha.kubernetes.io/pod"] = pick(g, seccompValues...)
	}
	if g.chance(0.3) {
		pod.Annotations["container.seccomp.security.alpha.kubernetes.io/"+pick(g, names...)] = pick(g, seccompValues...)
	}
	if g.chance(0.2) {
		pod.Annotations["apparmor.security.beta.kubernetes.io/unrelated"] = "unconfined"
	}
	return pod
}

// AsDeployment wraps a pod's metadata and spec into a Deployment's pod template.
func AsDeployment(pod *corev1.Pod) *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": pod.Name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec},
		},
	}
}

// AsCronJob wraps a pod's metadata and spec into a CronJob's pod template.
func AsCronJob(pod *corev1.Pod) *batchv1.CronJob {
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name},
		Spec: batchv1.CronJobSpec{
			Schedule: "@daily",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				Template: corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec},
			}},
		},
	}
}
