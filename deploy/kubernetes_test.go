package deploy_test

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// relayContainer is the name of the relay's container in every workload.
const relayContainer = "refersion-relay"

// object is one resource of a build's output, decoded as nested maps.
type object map[string]any

func (o object) kind() string { return get[string](o, "kind") }
func (o object) name() string { return get[string](o, "metadata", "name") }

// get walks m along keys and returns what it finds, or T's zero value.
func get[T any](m map[string]any, keys ...string) T {
	var v any = m
	for _, k := range keys {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	t, _ := v.(T)
	return t
}

// build runs `kustomize build dir` (dir relative to deploy/) in process.
func build(t *testing.T, dir string) []object {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []object
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		var o object
		if err == nil {
			err = yaml.Unmarshal(b, &o)
		}
		if err != nil {
			t.Fatalf("kustomize build %s: %s: %v", dir, r.CurId(), err)
		}
		out = append(out, o)
	}
	return out
}

// find returns the objects of kind, named name unless name is "".
func find(objs []object, kind, name string) []object {
	var out []object
	for _, o := range objs {
		if o.kind() == kind && (name == "" || o.name() == name) {
			out = append(out, o)
		}
	}
	return out
}

// relayIn returns the Deployment running the relay's container, the pod
// spec and the container.
func relayIn(t *testing.T, dir string, objs []object) (object, map[string]any, map[string]any) {
	t.Helper()
	for _, d := range find(objs, "Deployment", "") {
		pod := get[map[string]any](d, "spec", "template", "spec")
		for _, c := range get[[]any](pod, "containers") {
			if c, _ := c.(map[string]any); get[string](c, "name") == relayContainer {
				return d, pod, c
			}
		}
	}
	t.Fatalf("%s: no Deployment has a container named %s", dir, relayContainer)
	return nil, nil, nil
}

// containerEnv returns the variables c sets, from its ConfigMaps (envFrom)
// and its env, with what sets each.
func containerEnv(t *testing.T, dir string, objs []object, c map[string]any) (env, setBy map[string]string) {
	t.Helper()
	env, setBy = map[string]string{}, map[string]string{}
	for _, ef := range get[[]any](c, "envFrom") {
		name := get[string](ef.(map[string]any), "configMapRef", "name")
		if name == "" {
			continue
		}
		cms := find(objs, "ConfigMap", name)
		if len(cms) != 1 {
			t.Fatalf("%s: envFrom names ConfigMap %s, which the build does not hold", dir, name)
		}
		for k, v := range get[map[string]any](cms[0], "data") {
			env[k], setBy[k] = fmt.Sprint(v), "ConfigMap "+name+" (base/config.env)"
		}
	}
	for _, e := range get[[]any](c, "env") {
		e := e.(map[string]any)
		name := get[string](e, "name")
		env[name], setBy[name] = get[string](e, "value"), "the container's env"
	}
	return env, setBy
}

// kustomizations lists the directories under kubernetes/ holding a
// kustomization.yaml: the base and every overlay.
func kustomizations(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir("kubernetes", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.ToSlash(filepath.Dir(p)))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(dirs, "kubernetes/base") || len(dirs) < 2 {
		t.Fatalf("kustomizations found: %v; want the base and its overlays", dirs)
	}
	return dirs
}

// TestKustomize builds the base and every overlay, and checks the relay's
// container in each: every variable it is given is one the relay reads,
// its probes and metrics port are the admin server's, and the pod's grace
// period covers the drain.
func TestKustomize(t *testing.T) {
	vars := configVars(t)
	for _, dir := range kustomizations(t) {
		t.Run(strings.TrimPrefix(dir, "kubernetes/"), func(t *testing.T) {
			objs := build(t, dir)
			d, pod, c := relayIn(t, dir, objs)
			at := dir + ": Deployment/" + d.name()
			set, setBy := containerEnv(t, dir, objs, c)
			for name, by := range setBy {
				checkEnvName(t, vars, at+": "+by, name)
			}
			env := withDefaults(vars, set)
			admin := adminPort(t, env)

			// A probe's or Service's port, by number or by the container's port name.
			port := func(p any) int {
				if n, ok := p.(float64); ok {
					return int(n)
				}
				for _, cp := range get[[]any](c, "ports") {
					if cp := cp.(map[string]any); get[string](cp, "name") == p {
						return int(get[float64](cp, "containerPort"))
					}
				}
				return -1
			}
			for probe, path := range map[string]string{"livenessProbe": livenessPath, "readinessProbe": readinessPath} {
				hg := get[map[string]any](c, probe, "httpGet")
				if hg == nil || hg["path"] != path || port(hg["port"]) != admin {
					t.Errorf("%s: %s.httpGet is %v; want GET %s on ADMIN_ADDR's port %d", at, probe, hg, path, admin)
				}
			}
			for _, svc := range find(objs, "Service", "refersion-relay") {
				for _, p := range get[[]any](svc, "spec", "ports") {
					if target := get[any](p.(map[string]any), "targetPort"); port(target) != admin {
						t.Errorf("%s: Service refersion-relay targets port %v, not the admin port %d", dir, target, admin)
					}
				}
			}
			if a := get[map[string]any](d, "spec", "template", "metadata", "annotations"); a["prometheus.io/scrape"] == "true" {
				if a["prometheus.io/port"] != strconv.Itoa(admin) || a["prometheus.io/path"] != metricsPath {
					t.Errorf("%s: prometheus.io annotations point at %v%v, want %d%s", at, a["prometheus.io/port"], a["prometheus.io/path"], admin, metricsPath)
				}
			}

			grace := 30 * time.Second // Kubernetes' default
			if s, ok := pod["terminationGracePeriodSeconds"].(float64); ok {
				grace = time.Duration(s) * time.Second
			}
			checkGrace(t, at+": terminationGracePeriodSeconds", grace, env)

			// KEDA reads the brokers, topic and group from the container's
			// environment (*FromEnv): the names must be set there.
			for _, so := range find(objs, "ScaledObject", "") {
				for _, tr := range get[[]any](so, "spec", "triggers") {
					for param, name := range get[map[string]any](tr.(map[string]any), "metadata") {
						if !strings.HasSuffix(param, "FromEnv") {
							continue
						}
						checkEnvName(t, vars, dir+": ScaledObject "+so.name()+" "+param, fmt.Sprint(name))
						if _, ok := set[fmt.Sprint(name)]; !ok {
							t.Errorf("%s: ScaledObject %s reads %s=%v from the relay's container, which does not set it", dir, so.name(), param, name)
						}
					}
				}
			}
		})
	}
}

// TestSidecarMatchesRedis checks that the sidecar overlay's relay
// container, which sidecar-patch.yaml spells out in full, is the redis
// overlay's (base plus redis) field for field; only the order of env
// entries may differ.
func TestSidecarMatchesRedis(t *testing.T) {
	container := func(dir string) map[string]any {
		objs := build(t, dir)
		_, _, c := relayIn(t, dir, objs)
		env := get[[]any](c, "env")
		slices.SortFunc(env, func(a, b any) int {
			return strings.Compare(get[string](a.(map[string]any), "name"), get[string](b.(map[string]any), "name"))
		})
		return c
	}
	redis, sidecar := container("kubernetes/overlays/redis"), container("kubernetes/overlays/sidecar")
	fields := map[string]bool{}
	for k := range redis {
		fields[k] = true
	}
	for k := range sidecar {
		fields[k] = true
	}
	for k := range fields {
		if !reflect.DeepEqual(redis[k], sidecar[k]) {
			a, _ := yaml.Marshal(redis[k])
			b, _ := yaml.Marshal(sidecar[k])
			t.Errorf("the sidecar's relay container differs from the redis overlay's in %s; make overlays/sidecar/sidecar-patch.yaml match.\nredis:\n%s\nsidecar:\n%s", k, a, b)
		}
	}
}
