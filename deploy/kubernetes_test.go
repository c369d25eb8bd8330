package deploy_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// relayContainer is the name of the relay's container in every workload:
// the contract by which these tests, and KEDA, find it.
const relayContainer = "refersion-relay"

// object is one rendered resource.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	raw []byte
}

func (o object) id() string { return o.Kind + "/" + o.Metadata.Name }

// decode reads o into v, a partial model of its kind.
func (o object) decode(t testing.TB, v any) {
	t.Helper()
	if err := yaml.Unmarshal(o.raw, v); err != nil {
		t.Fatalf("%s: %v", o.id(), err)
	}
}

// The parts of the Kubernetes API the tests read.
type (
	deployment struct {
		Spec struct {
			Replicas *int `json:"replicas"`
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Template struct {
				Metadata struct {
					Labels      map[string]string `json:"labels"`
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
				Spec podSpec `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	podSpec struct {
		TerminationGracePeriodSeconds *int64           `json:"terminationGracePeriodSeconds"`
		SecurityContext               *securityContext `json:"securityContext"`
		Containers                    []container      `json:"containers"`
		Volumes                       []volume         `json:"volumes"`
	}
	securityContext struct {
		RunAsNonRoot             *bool `json:"runAsNonRoot"`
		RunAsUser                *int  `json:"runAsUser"`
		ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
		Capabilities             *struct {
			Drop []string `json:"drop"`
		} `json:"capabilities"`
	}
	container struct {
		Name  string `json:"name"`
		Image string `json:"image"`
		Ports []struct {
			Name          string `json:"name"`
			ContainerPort int    `json:"containerPort"`
		} `json:"ports"`
		Env []struct {
			Name      string         `json:"name"`
			Value     string         `json:"value"`
			ValueFrom map[string]any `json:"valueFrom"`
		} `json:"env"`
		EnvFrom []struct {
			ConfigMapRef *struct {
				Name string `json:"name"`
			} `json:"configMapRef"`
			SecretRef map[string]any `json:"secretRef"`
		} `json:"envFrom"`
		LivenessProbe  *probe `json:"livenessProbe"`
		ReadinessProbe *probe `json:"readinessProbe"`
		Resources      struct {
			Requests map[string]string `json:"requests"`
			Limits   map[string]string `json:"limits"`
		} `json:"resources"`
		SecurityContext *securityContext `json:"securityContext"`
		VolumeMounts    []struct {
			Name      string `json:"name"`
			MountPath string `json:"mountPath"`
			ReadOnly  bool   `json:"readOnly"`
		} `json:"volumeMounts"`
	}
	probe struct {
		HTTPGet *struct {
			Path string      `json:"path"`
			Port intOrString `json:"port"`
		} `json:"httpGet"`
	}
	volume struct {
		Name   string `json:"name"`
		Secret *struct {
			SecretName string `json:"secretName"`
		} `json:"secret"`
		EmptyDir              map[string]any `json:"emptyDir"`
		PersistentVolumeClaim map[string]any `json:"persistentVolumeClaim"`
	}
	configMap struct {
		Data map[string]string `json:"data"`
	}
	service struct {
		Spec struct {
			Selector map[string]string `json:"selector"`
			Ports    []struct {
				Port       int         `json:"port"`
				TargetPort intOrString `json:"targetPort"`
			} `json:"ports"`
		} `json:"spec"`
	}
	pdb struct {
		Spec struct {
			MaxUnavailable *intOrString `json:"maxUnavailable"`
			MinAvailable   *intOrString `json:"minAvailable"`
			Selector       struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
		} `json:"spec"`
	}
	scaledObject struct {
		Spec struct {
			ScaleTargetRef struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"scaleTargetRef"`
			MinReplicaCount *int `json:"minReplicaCount"`
			MaxReplicaCount *int `json:"maxReplicaCount"`
			Triggers        []struct {
				Type     string            `json:"type"`
				Metadata map[string]string `json:"metadata"`
			} `json:"triggers"`
		} `json:"spec"`
	}
)

// intOrString is Kubernetes' IntOrString: a port number or name.
type intOrString string

func (v *intOrString) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*v = intOrString(s)
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a number or a name, got %s", b)
	}
	*v = intOrString(strconv.Itoa(n))
	return nil
}

// rendered is the output of one kustomization.
type rendered struct {
	dir     string // relative to deploy/
	objects []object
}

// render runs `kustomize build` on dir (relative to deploy/) through
// kustomize's Go API.
func render(t testing.TB, dir string) rendered {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := rendered{dir: dir}
	for _, res := range m.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			t.Fatalf("kustomize build %s: %s: %v", dir, res.CurId(), err)
		}
		o := object{raw: b}
		if err := yaml.Unmarshal(b, &o); err != nil {
			t.Fatalf("kustomize build %s: output does not parse: %v\n%s", dir, err, b)
		}
		if o.Kind == "" || o.Metadata.Name == "" {
			t.Fatalf("kustomize build %s: a resource without kind or name:\n%s", dir, b)
		}
		r.objects = append(r.objects, o)
	}
	return r
}

// find returns the objects of kind, or the one named name when name is set.
func (r rendered) find(kind, name string) []object {
	var out []object
	for _, o := range r.objects {
		if o.Kind == kind && (name == "" || o.Metadata.Name == name) {
			out = append(out, o)
		}
	}
	return out
}

// relayWorkload is a Deployment that runs the relay's container.
type relayWorkload struct {
	obj        object
	spec       deployment
	container  container
	env        map[string]string // the relay's effective configuration
	set        map[string]string // the variables the manifests set
	setBy      map[string]string // variable -> what sets it, for messages
	fromSecret map[string]bool   // variables set with valueFrom
}

// relayWorkloads returns every Deployment with a container named
// refersion-relay, checking each variable it sets against config.Config.
func (r rendered) relayWorkloads(t *testing.T, vars map[string]string) []relayWorkload {
	t.Helper()
	var out []relayWorkload
	for _, o := range r.find("Deployment", "") {
		var d deployment
		o.decode(t, &d)
		n := 0
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name != relayContainer {
				continue
			}
			n++
			w := relayWorkload{obj: o, spec: d, container: c, setBy: map[string]string{}, fromSecret: map[string]bool{}}
			set := map[string]string{}
			// envFrom first: an env entry of the same name wins in Kubernetes.
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					t.Errorf("%s: %s: container %s takes variables from a Secret with envFrom; secrets come as files named by the *_FILE variables", r.dir, o.id(), c.Name)
				}
				if ef.ConfigMapRef == nil {
					continue
				}
				cms := r.find("ConfigMap", ef.ConfigMapRef.Name)
				if len(cms) != 1 {
					t.Errorf("%s: %s: envFrom names ConfigMap %s, which the build does not contain", r.dir, o.id(), ef.ConfigMapRef.Name)
					continue
				}
				var cm configMap
				cms[0].decode(t, &cm)
				for k, v := range cm.Data {
					set[k], w.setBy[k] = v, cms[0].id()
				}
			}
			for _, e := range c.Env {
				v := e.Value
				if e.ValueFrom != nil {
					v = "(from " + fmt.Sprint(keys(e.ValueFrom)) + ")"
					w.fromSecret[e.Name] = e.ValueFrom["secretKeyRef"] != nil
				}
				set[e.Name], w.setBy[e.Name] = v, o.id()+" env"
			}
			for name, by := range w.setBy {
				if p := envNameProblem(name, vars); p != "" {
					t.Errorf("%s: %s sets %s, which is %s; %s", r.dir, by, name, p, mentions("kubernetes", name))
				}
			}
			w.env, w.set = effectiveEnv(vars, set), set
			out = append(out, w)
		}
		if n > 1 {
			t.Errorf("%s: %s has %d containers named %s", r.dir, o.id(), n, relayContainer)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no Deployment has a container named %s", r.dir, relayContainer)
	}
	return out
}

// mergeMaps returns a map with the keys of a and b.
func mergeMaps(a, b map[string]any) map[string]any {
	m := map[string]any{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// keys returns m's keys, sorted.
func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// kustomizations lists every directory under kubernetes/ with a
// kustomization.yaml, relative to deploy/.
func kustomizations(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir("kubernetes", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.ToSlash(filepath.Dir(p)))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// expectation is what one kustomization must produce beyond the checks
// every one of them gets.
type expectation struct {
	workload   string // the Deployment holding the relay
	containers int    // containers in its pod
	replicas   func(*int) string
	backend    string
	pdb        bool
	keda       bool
}

var expectations = map[string]expectation{
	"kubernetes/base": {
		workload: "refersion-relay", containers: 1, backend: "disk", pdb: true,
		replicas: func(n *int) string {
			if n == nil || *n != 1 {
				return "want replicas: 1 (one pod holds the disk backend's volume)"
			}
			return ""
		},
	},
	"kubernetes/overlays/redis": {
		workload: "refersion-relay", containers: 1, backend: "redis", pdb: true,
		replicas: func(n *int) string {
			if n == nil || *n < 2 {
				return "want several replicas sharing state"
			}
			return ""
		},
	},
	"kubernetes/overlays/keda": {
		workload: "refersion-relay", containers: 1, backend: "redis", pdb: true, keda: true,
		replicas: func(n *int) string {
			if n != nil {
				return "want no replicas field: KEDA's autoscaler owns the count"
			}
			return ""
		},
	},
	"kubernetes/overlays/sidecar": {
		workload: "data-platform", containers: 2, backend: "redis",
		replicas: func(*int) string { return "" },
	},
}

// TestKustomize builds the base and every overlay and checks what a relay
// needs to run well under Kubernetes.
func TestKustomize(t *testing.T) {
	vars := configVars(t)
	dirs := kustomizations(t)
	for want := range expectations {
		found := false
		for _, d := range dirs {
			found = found || d == want
		}
		if !found {
			t.Errorf("%s/kustomization.yaml is missing", want)
		}
	}
	for _, dir := range dirs {
		t.Run(strings.TrimPrefix(dir, "kubernetes/"), func(t *testing.T) {
			exp, ok := expectations[dir]
			if !ok {
				t.Fatalf("%s: a kustomization these tests do not know; add its expectation", dir)
			}
			r := render(t, dir)
			ws := r.relayWorkloads(t, vars)
			for _, w := range ws {
				checkRelayPod(t, r, w)
				if err := validateConfig(t, vars, w.set, w.fromSecret); err != nil {
					t.Errorf("%s: %s: the relay would refuse this configuration:\n%v", dir, w.obj.id(), err)
				}
			}
			if len(ws) != 1 || ws[0].obj.Metadata.Name != exp.workload {
				t.Fatalf("%s: the relay runs in %d Deployments; want exactly Deployment/%s", dir, len(ws), exp.workload)
			}
			w := ws[0]
			if n := len(w.spec.Spec.Template.Spec.Containers); n != exp.containers {
				t.Errorf("%s: %s has %d containers, want %d", dir, w.obj.id(), n, exp.containers)
			}
			if p := exp.replicas(w.spec.Spec.Replicas); p != "" {
				t.Errorf("%s: %s: %s", dir, w.obj.id(), p)
			}
			if got := w.env["STATE_BACKEND"]; got != exp.backend {
				t.Errorf("%s: STATE_BACKEND is %q, want %q", dir, got, exp.backend)
			}
			checkService(t, r, w)
			checkPDB(t, r, w, exp.pdb)
			checkScaledObject(t, r, w, exp.keda)
		})
	}
}

// checkRelayPod checks the relay's container and its pod.
func checkRelayPod(t *testing.T, r rendered, w relayWorkload) {
	t.Helper()
	at := r.dir + ": " + w.obj.id()
	c, pod := w.container, w.spec.Spec.Template.Spec

	// Probes: liveness /healthz and readiness /readyz on ADMIN_ADDR's port.
	admin := adminPort(t, w.env)
	for _, p := range []struct {
		kind, path string
		probe      *probe
	}{{"liveness", livenessPath, c.LivenessProbe}, {"readiness", readinessPath, c.ReadinessProbe}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", at, p.kind)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s: %s probe path %s, want %s", at, p.kind, p.probe.HTTPGet.Path, p.path)
		}
		if port := containerPort(c, p.probe.HTTPGet.Port); port != admin {
			t.Errorf("%s: %s probe port %s is %d, but ADMIN_ADDR %q serves %d", at, p.kind, p.probe.HTTPGet.Port, port, w.env["ADMIN_ADDR"], admin)
		}
	}
	if a := w.spec.Spec.Template.Metadata.Annotations; a["prometheus.io/scrape"] == "true" {
		if a["prometheus.io/port"] != strconv.Itoa(admin) || a["prometheus.io/path"] != metricsPath {
			t.Errorf("%s: prometheus.io annotations point at %s%s, want %d%s", at, a["prometheus.io/port"], a["prometheus.io/path"], admin, metricsPath)
		}
	}

	// Graceful shutdown: the grace period covers the drain and the exit.
	drain := drainTimeout(t, w.env)
	grace := 30 * time.Second // Kubernetes' default
	if pod.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	if grace < drain+shutdownMargin {
		t.Errorf("%s: terminationGracePeriodSeconds %s is less than DRAIN_TIMEOUT %s plus %s to commit, leave the group and exit", at, grace, drain, shutdownMargin)
	}

	// Non-root, read-only root filesystem, no privilege.
	sc := c.SecurityContext
	if sc == nil {
		sc = &securityContext{}
	}
	podSC := pod.SecurityContext
	if podSC == nil {
		podSC = &securityContext{}
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = podSC.RunAsNonRoot
	}
	user := sc.RunAsUser
	if user == nil {
		user = podSC.RunAsUser
	}
	if nonRoot == nil || !*nonRoot || user == nil || *user == 0 {
		t.Errorf("%s: container %s must set runAsNonRoot: true and a non-zero runAsUser", at, c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: container %s must set readOnlyRootFilesystem: true", at, c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: container %s must set allowPrivilegeEscalation: false", at, c.Name)
	}
	if sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("%s: container %s must drop ALL capabilities", at, c.Name)
	}

	// Resources: set, requests within limits, memory for the measured peak.
	for _, res := range []string{"cpu", "memory"} {
		if c.Resources.Requests[res] == "" || c.Resources.Limits[res] == "" {
			t.Errorf("%s: container %s must request and limit %s", at, c.Name, res)
		}
	}
	reqMem, err1 := memoryBytes(c.Resources.Requests["memory"])
	limMem, err2 := memoryBytes(c.Resources.Limits["memory"])
	reqCPU, err3 := milliCPU(c.Resources.Requests["cpu"])
	limCPU, err4 := milliCPU(c.Resources.Limits["cpu"])
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			t.Errorf("%s: resources: %v", at, err)
		}
	}
	if reqMem < measuredPeakRSS || limMem < reqMem || limCPU < reqCPU {
		t.Errorf("%s: resources %v / %v: memory request must cover the measured peak RSS (%d MiB) and requests must not exceed limits", at, c.Resources.Requests, c.Resources.Limits, measuredPeakRSS>>20)
	}
	if v, ok := w.env["GOMEMLIMIT"]; ok {
		if n, err := goMemLimit(v); err != nil || n >= limMem || n < reqMem {
			t.Errorf("%s: GOMEMLIMIT %s must lie between the memory request and limit (%v)", at, v, err)
		}
	}

	// Files: each *_FILE names a file in a mounted Secret; the disk backend's
	// STATE_DIR is a writable volume (the root filesystem is read-only).
	mountOf := func(p string) (vol volume, readOnly, ok bool) {
		for _, m := range c.VolumeMounts {
			if p == m.MountPath || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") {
				for _, v := range pod.Volumes {
					if v.Name == m.Name {
						return v, m.ReadOnly, true
					}
				}
				t.Errorf("%s: volumeMount %s names no volume of the pod", at, m.Name)
			}
		}
		return volume{}, false, false
	}
	for name, value := range w.env {
		if !strings.HasSuffix(name, "_FILE") || value == "" || strings.HasPrefix(name, "KAFKA_TLS_") {
			continue
		}
		if v, _, ok := mountOf(value); !ok || v.Secret == nil {
			t.Errorf("%s: %s=%s is not in a mounted Secret volume", at, name, value)
		}
	}
	switch w.env["STATE_BACKEND"] {
	case "disk":
		v, ro, ok := mountOf(path.Join(w.env["STATE_DIR"], "x"))
		if !ok || ro || (v.PersistentVolumeClaim == nil && v.EmptyDir == nil) {
			t.Errorf("%s: STATE_DIR %s must be on a writable volume (a PersistentVolumeClaim to survive restarts)", at, w.env["STATE_DIR"])
		}
	case "redis":
		if w.env["REDIS_URL"] == "" {
			t.Errorf("%s: STATE_BACKEND=redis without REDIS_URL", at)
		}
	}

	// What config.Validate requires of every deployment.
	for _, name := range []string{"KAFKA_BROKERS", "KAFKA_TOPIC"} {
		if w.env[name] == "" {
			t.Errorf("%s: %s is not set", at, name)
		}
	}
	if w.env["REFERSION_API_KEY_FILE"] == "" && (w.env["REFERSION_PUBLIC_KEY_FILE"] == "" || w.env["REFERSION_SECRET_KEY_FILE"] == "") {
		t.Errorf("%s: Refersion's keys must come from the Secret: REFERSION_API_KEY_FILE, or REFERSION_PUBLIC_KEY_FILE and REFERSION_SECRET_KEY_FILE", at)
	}
	for _, name := range []string{"REFERSION_API_KEY", "REFERSION_PUBLIC_KEY", "REFERSION_SECRET_KEY", "KAFKA_SASL_PASSWORD"} {
		if _, ok := w.setBy[name]; ok {
			t.Errorf("%s: %s is set directly; give it as a file with %s_FILE", at, name, name)
		}
	}
}

// containerPort resolves a probe's or Service's port, by number or name.
func containerPort(c container, p intOrString) int {
	if n, err := strconv.Atoi(string(p)); err == nil {
		return n
	}
	for _, cp := range c.Ports {
		if cp.Name == string(p) {
			return cp.ContainerPort
		}
	}
	return -1
}

// selects reports whether selector (non-empty) matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkService checks the metrics Service: it selects the relay's pods and
// targets the admin port.
func checkService(t *testing.T, r rendered, w relayWorkload) {
	t.Helper()
	svcs := r.find("Service", "refersion-relay")
	if len(svcs) != 1 {
		t.Errorf("%s: no Service refersion-relay for metrics", r.dir)
		return
	}
	var s service
	svcs[0].decode(t, &s)
	if !selects(s.Spec.Selector, w.spec.Spec.Template.Metadata.Labels) {
		t.Errorf("%s: Service refersion-relay selector %v does not select the pods of %s (labels %v)", r.dir, s.Spec.Selector, w.obj.id(), w.spec.Spec.Template.Metadata.Labels)
	}
	admin := adminPort(t, w.env)
	for _, p := range s.Spec.Ports {
		if containerPort(w.container, p.TargetPort) != admin {
			t.Errorf("%s: Service refersion-relay targets port %s, not the admin port %d", r.dir, p.TargetPort, admin)
		}
	}
	if len(s.Spec.Ports) == 0 {
		t.Errorf("%s: Service refersion-relay has no port", r.dir)
	}
}

// checkPDB checks that a disruption budget covers the relay's pods, or that
// there is none where the pod belongs to another workload.
func checkPDB(t *testing.T, r rendered, w relayWorkload, want bool) {
	t.Helper()
	pdbs := r.find("PodDisruptionBudget", "")
	if !want {
		if len(pdbs) != 0 {
			t.Errorf("%s: %d PodDisruptionBudgets; the pod's own workload governs its disruptions", r.dir, len(pdbs))
		}
		return
	}
	if len(pdbs) != 1 {
		t.Errorf("%s: %d PodDisruptionBudgets, want 1", r.dir, len(pdbs))
		return
	}
	var p pdb
	pdbs[0].decode(t, &p)
	if !selects(p.Spec.Selector.MatchLabels, w.spec.Spec.Template.Metadata.Labels) {
		t.Errorf("%s: %s does not select the relay's pods", r.dir, pdbs[0].id())
	}
	if p.Spec.MaxUnavailable == nil || *p.Spec.MaxUnavailable == "0" {
		t.Errorf("%s: %s must allow one disruption (maxUnavailable), or a node with the only relay could never be drained", r.dir, pdbs[0].id())
	}
}

// checkScaledObject checks KEDA's ScaledObject where one is expected: it
// scales the relay's Deployment on the lag of the very group and topic the
// relay consumes, between sane bounds.
func checkScaledObject(t *testing.T, r rendered, w relayWorkload, want bool) {
	t.Helper()
	sos := r.find("ScaledObject", "")
	if !want {
		if len(sos) != 0 {
			t.Errorf("%s: unexpected ScaledObject", r.dir)
		}
		return
	}
	if len(sos) != 1 {
		t.Fatalf("%s: %d ScaledObjects, want 1", r.dir, len(sos))
	}
	var so scaledObject
	sos[0].decode(t, &so)
	ref := so.Spec.ScaleTargetRef
	if ref.Name != w.obj.Metadata.Name || (ref.Kind != "" && ref.Kind != "Deployment") {
		t.Errorf("%s: ScaledObject targets %s/%s, not %s", r.dir, ref.Kind, ref.Name, w.obj.id())
	}
	lo, hi := so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount
	if lo == nil || hi == nil || *lo < 1 || *hi < *lo {
		t.Errorf("%s: ScaledObject needs 1 <= minReplicaCount <= maxReplicaCount (the topic's partition count)", r.dir)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
		t.Fatalf("%s: ScaledObject must have one trigger, of type kafka (lag read from the brokers)", r.dir)
	}
	md := so.Spec.Triggers[0].Metadata
	for param, variable := range map[string]string{"bootstrapServers": "KAFKA_BROKERS", "topic": "KAFKA_TOPIC", "consumerGroup": "KAFKA_GROUP_ID"} {
		got := md[param+"FromEnv"]
		if got == "" {
			// A literal value must at least agree with the relay's.
			if md[param] != w.env[variable] {
				t.Errorf("%s: ScaledObject %s is %q, but the relay's %s is %q", r.dir, param, md[param], variable, w.env[variable])
			}
			continue
		}
		if got != variable {
			t.Errorf("%s: ScaledObject %sFromEnv is %s, want %s", r.dir, param, got, variable)
		}
		if _, set := w.setBy[variable]; !set {
			t.Errorf("%s: ScaledObject reads %s from the container's environment, which does not set it", r.dir, variable)
		}
	}
	if n, err := strconv.Atoi(md["lagThreshold"]); err != nil || n < 1 {
		t.Errorf("%s: ScaledObject lagThreshold %q is not a positive number", r.dir, md["lagThreshold"])
	}
	if md["allowIdleConsumers"] == "true" {
		t.Errorf("%s: allowIdleConsumers would scale past the partition count", r.dir)
	}
	if p := md["offsetResetPolicy"]; p != "" && p != w.env["KAFKA_START_OFFSET"] {
		t.Errorf("%s: ScaledObject offsetResetPolicy %s differs from KAFKA_START_OFFSET %s", r.dir, p, w.env["KAFKA_START_OFFSET"])
	}
}

// TestSidecarMatchesRedis checks that the sidecar overlay's relay container
// is the redis overlay's, field for field (only the order of env entries
// may differ): the sidecar patch spells the container out, and must not
// drift from the base.
func TestSidecarMatchesRedis(t *testing.T) {
	container := func(dir, workload string) map[string]any {
		r := render(t, dir)
		objs := r.find("Deployment", workload)
		if len(objs) != 1 {
			t.Fatalf("%s: no Deployment/%s", dir, workload)
		}
		var d struct {
			Spec struct {
				Template struct {
					Spec struct {
						Containers []map[string]any `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		objs[0].decode(t, &d)
		for _, c := range d.Spec.Template.Spec.Containers {
			if c["name"] == relayContainer {
				if env, ok := c["env"].([]any); ok {
					sort.Slice(env, func(i, j int) bool {
						return fmt.Sprint(env[i].(map[string]any)["name"]) < fmt.Sprint(env[j].(map[string]any)["name"])
					})
				}
				return c
			}
		}
		t.Fatalf("%s: Deployment/%s has no container %s", dir, workload, relayContainer)
		return nil
	}
	redis := container("kubernetes/overlays/redis", "refersion-relay")
	sidecar := container("kubernetes/overlays/sidecar", "data-platform")
	for _, k := range keys(mergeMaps(redis, sidecar)) {
		if !reflect.DeepEqual(redis[k], sidecar[k]) {
			a, _ := yaml.Marshal(redis[k])
			b, _ := yaml.Marshal(sidecar[k])
			t.Errorf("the sidecar's relay container differs from the redis overlay's in %s; make kubernetes/overlays/sidecar/sidecar-patch.yaml match.\nredis overlay:\n%s\nsidecar overlay:\n%s", k, a, b)
		}
	}
}

// memoryBytes parses a Kubernetes memory quantity: bytes with an optional
// binary (Ki, Mi, Gi) or decimal (k, M, G) suffix.
func memoryBytes(q string) (int64, error) {
	m := regexp.MustCompile(`^([0-9]+)(k|M|G|Ki|Mi|Gi)?$`).FindStringSubmatch(q)
	if m == nil {
		return 0, fmt.Errorf("memory %q: not understood", q)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n * map[string]int64{"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[m[2]], nil
}

// milliCPU parses a Kubernetes CPU quantity ("250m", "1", "0.5") into
// thousandths of a CPU.
func milliCPU(q string) (int64, error) {
	if n, ok := strings.CutSuffix(q, "m"); ok {
		return strconv.ParseInt(n, 10, 64)
	}
	f, err := strconv.ParseFloat(q, 64)
	if err != nil {
		return 0, fmt.Errorf("cpu %q: not understood", q)
	}
	return int64(f * 1000), nil
}

// goMemLimit parses GOMEMLIMIT: bytes with an optional B, KiB, MiB or GiB.
func goMemLimit(s string) (int64, error) {
	m := regexp.MustCompile(`^([0-9]+)(B|KiB|MiB|GiB)?$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("GOMEMLIMIT %q: not understood", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n * map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m[2]], nil
}
