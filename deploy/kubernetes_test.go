package deploy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/segmerge/segmerge/internal/kafka"
)

// kubeObject is what the checks read of a Kubernetes manifest (and of a
// kustomization.yaml).
type kubeObject struct {
	file       string
	APIVersion string `yaml:"apiVersion"`
	Kind       string
	Metadata   struct{ Name string }
	Data       map[string]string
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		ServiceName string `yaml:"serviceName"`
		Template    struct{ Spec podSpec }
	}
	Resources []string
	Images    []struct{ Name string }
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64 `yaml:"terminationGracePeriodSeconds"`
	Containers                    []container
	Volumes                       []struct {
		Name      string
		ConfigMap *struct {
			Name  string
			Items []keyPath
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
			Items      []keyPath
		}
	}
}

type keyPath struct{ Key, Path string }

type container struct {
	Name, Image   string
	Command, Args []string
	Env           []struct {
		Name, Value string
		ValueFrom   *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
			ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
		} `yaml:"valueFrom"`
	}
	Resources struct {
		Limits map[string]string
	}
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
}

type probe struct {
	HTTPGet *struct {
		Path string
		Port string
	} `yaml:"httpGet"`
}

type keyRef struct{ Name, Key string }

// parseManifests reads every document of the files, by file name.
func parseManifests(files map[string][]byte) ([]*kubeObject, problems) {
	var ps problems
	var objs []*kubeObject
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		dec := yaml.NewDecoder(bytes.NewReader(files[name]))
		for {
			o := &kubeObject{file: name}
			err := dec.Decode(o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				ps.add("%s: %v", name, err)
				break
			}
			if o.Kind == "" {
				ps.add("%s: a document with no kind", name)
				continue
			}
			objs = append(objs, o)
		}
	}
	return objs, ps
}

// find returns the manifest of a kind and name, or nil.
func find(objs []*kubeObject, kind, name string) *kubeObject {
	for _, o := range objs {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	return nil
}

// value returns a ConfigMap's or a Secret's value for key.
func (o *kubeObject) value(key string) (string, bool) {
	if v, ok := o.StringData[key]; ok {
		return v, true
	}
	v, ok := o.Data[key]
	if ok && o.Kind == "Secret" {
		b, err := base64.StdEncoding.DecodeString(v)
		return string(b), err == nil
	}
	return v, ok
}

// expandVar is Kubernetes' $(VAR) in command and args.
var expandVar = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkKubernetes checks the manifests: each segmerge container of a
// StatefulSet runs `consume --layout batch` to an output topic with the
// pod's name as --transactional-id, under a memory limit that fits its
// --memory and a grace period it can stop in; its client settings are
// ones segmerge reads, the password from a Secret, the CA a file from a
// mounted ConfigMap or Secret, every reference to one resolving in the
// examples; and kustomization.yaml applies the manifests but not the
// example Secret.
func checkKubernetes(files map[string][]byte) problems {
	objs, ps := parseManifests(files)
	sets := 0
	for _, o := range objs {
		if o.Kind != "StatefulSet" {
			continue
		}
		sets++
		where := o.file + ": StatefulSet " + o.Metadata.Name
		if o.Spec.ServiceName != "" && find(objs, "Service", o.Spec.ServiceName) == nil {
			ps.add("%s: serviceName %s is no Service in the manifests", where, o.Spec.ServiceName)
		}
		pod := o.Spec.Template.Spec
		if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 30 {
			ps.add("%s: terminationGracePeriodSeconds must be set to at least 30: segmerge needs up to about 25s to stop cleanly", where)
		}
		found := 0
		for _, c := range pod.Containers {
			img, _, _ := strings.Cut(path.Base(c.Image), ":")
			if img != "segmerge" {
				continue
			}
			found++
			ps = append(ps, checkContainer(where+" container "+c.Name, o.Metadata.Name, pod, c, objs)...)
		}
		if found == 0 {
			ps.add("%s: no segmerge container", where)
		}
	}
	if sets == 0 {
		ps.add("no StatefulSet in the Kubernetes manifests")
	}
	for _, o := range objs {
		if o.Kind != "Kustomization" {
			continue
		}
		for _, r := range o.Resources {
			if _, ok := files[r]; !ok {
				ps.add("%s: resource %s is not in deploy/kubernetes", o.file, r)
			}
			for _, res := range objs {
				if res.file == r && res.Kind == "Secret" {
					ps.add("%s: applies %s, the Secret with a placeholder password: secrets do not come from git", o.file, r)
				}
			}
		}
		for _, img := range o.Images {
			if img.Name != "segmerge" {
				ps.add("%s: image %s names no container's image", o.file, img.Name)
			}
		}
	}
	return ps
}

func checkContainer(where, set string, pod podSpec, c container, objs []*kubeObject) problems {
	var ps problems
	if len(c.Command) > 0 {
		ps.add("%s: sets command: the image's entrypoint is segmerge, and args are its arguments", where)
	}
	// The environment, as the pod would see it, with references resolved
	// from the example ConfigMaps and Secrets.
	env := map[string]string{}
	podName := set + "-0"
	for _, e := range c.Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil:
			if e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
				v = podName
			}
		case e.ValueFrom.SecretKeyRef != nil || e.ValueFrom.ConfigMapKeyRef != nil:
			kind, ref := "Secret", e.ValueFrom.SecretKeyRef
			if ref == nil {
				kind, ref = "ConfigMap", e.ValueFrom.ConfigMapKeyRef
			}
			o := find(objs, kind, ref.Name)
			var ok bool
			if o != nil {
				v, ok = o.value(ref.Key)
			}
			if !ok {
				ps.add("%s: %s takes key %s of %s %s, which the manifests do not hold", where, e.Name, ref.Key, kind, ref.Name)
			}
		}
		env[e.Name] = v
		key, isX := envProperty(e.Name)
		if (isX && kafka.Secret(key) || strings.Contains(e.Name, "PASSWORD")) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			ps.add("%s: %s must come from a Secret (valueFrom.secretKeyRef)", where, e.Name)
		}
	}
	ps = append(ps, checkClientEnv(where, env)...)
	if b, ok := env["SEGMERGE_BROKERS"]; ok {
		if _, err := brokerList(b); err != nil {
			ps.add("%s: SEGMERGE_BROKERS: %v", where, err)
		}
	}

	// Kubernetes expands $(VAR) from the container's environment; one it
	// cannot expand stays as it is written.
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = expandVar.ReplaceAllStringFunc(a, func(m string) string {
			name := expandVar.FindStringSubmatch(m)[1]
			v, ok := env[name]
			if !ok {
				ps.add("%s: args use $(%s), which the container's env does not set", where, name)
				return m
			}
			return v
		})
	}
	cmd, cps := checkCommand(where, args)
	ps = append(ps, cps...)
	if cmd.sub != "consume" {
		ps.add("%s: runs segmerge %s, not consume", where, cmd.sub)
	}
	if l, _ := cmd.get("layout"); l != "batch" {
		ps.add("%s: --layout %q: only the batch layout runs as many processes as there are replicas", where, l)
	}
	if _, ok := cmd.get("output-topic"); !ok {
		ps.add("%s: no --output-topic: across processes it is the exactly-once sink", where)
	}
	// --transactional-id must be the pod's name, from the downward API.
	raw := ""
	for i, a := range c.Args {
		if a == "--transactional-id" && i+1 < len(c.Args) {
			raw = c.Args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--transactional-id="); ok {
			raw = v
		}
	}
	m := expandVar.FindStringSubmatch(raw)
	if m == nil || m[0] != raw || env[m[1]] != podName {
		ps.add("%s: --transactional-id %q is not $(VAR) with VAR the pod's name (valueFrom.fieldRef metadata.name)", where, raw)
	}

	ps = append(ps, checkProbes(where, cmd, c)...)

	mem, ok := cmd.get("memory")
	limit, hasLimit := c.Resources.Limits["memory"]
	switch {
	case !ok:
		ps.add("%s: no --memory: segmerge's default 512MiB must match the memory limit, so say it", where)
	case !hasLimit:
		ps.add("%s: no memory limit: set one a little above --memory %s", where, mem)
	default:
		if n, err := kubeQuantity(limit); err != nil {
			ps.add("%s: %v", where, err)
		} else {
			ps = append(ps, memoryFits(where, mem, n, limit)...)
		}
	}

	// The CA file: a key of a ConfigMap or Secret mounted where
	// SEGMERGE_X_SSL_CA_LOCATION points.
	if ca, ok := env["SEGMERGE_X_SSL_CA_LOCATION"]; ok {
		ps = append(ps, checkMountedFile(where, ca, pod, c, objs)...)
	}
	return ps
}

// checkMountedFile checks that file is a key of a ConfigMap or Secret
// volume mounted in the container.
// checkProbes wants --metrics-addr on a named container port, /healthz as
// the liveness probe and /readyz as the readiness probe on it: a pod that
// holds nothing it can use is then shown not ready, not restarted.
func checkProbes(where string, cmd cmdline, c container) problems {
	var ps problems
	addr, ok := cmd.get("metrics-addr")
	if !ok {
		ps.add("%s: no --metrics-addr: the probes need /healthz and /readyz", where)
		return ps
	}
	_, port, _ := strings.Cut(addr, ":")
	named := ""
	for _, p := range c.Ports {
		if fmt.Sprint(p.ContainerPort) == port {
			named = p.Name
		}
	}
	if named == "" {
		ps.add("%s: --metrics-addr %s: no container port %s declared", where, addr, port)
	}
	for _, pr := range []struct {
		kind, path string
		p          *probe
	}{{"livenessProbe", "/healthz", c.LivenessProbe}, {"readinessProbe", "/readyz", c.ReadinessProbe}} {
		switch {
		case pr.p == nil || pr.p.HTTPGet == nil:
			ps.add("%s: no %s (httpGet %s)", where, pr.kind, pr.path)
		case pr.p.HTTPGet.Path != pr.path:
			ps.add("%s: %s gets %s, want %s", where, pr.kind, pr.p.HTTPGet.Path, pr.path)
		case pr.p.HTTPGet.Port != named && pr.p.HTTPGet.Port != port:
			ps.add("%s: %s port %s is not the --metrics-addr port %s", where, pr.kind, pr.p.HTTPGet.Port, port)
		}
	}
	return ps
}

func checkMountedFile(where, file string, pod podSpec, c container, objs []*kubeObject) problems {
	var ps problems
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			var kind, name string
			var items []keyPath
			switch {
			case v.ConfigMap != nil:
				kind, name, items = "ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items
			case v.Secret != nil:
				kind, name, items = "Secret", v.Secret.SecretName, v.Secret.Items
			default:
				ps.add("%s: %s is on volume %s, which is neither a ConfigMap nor a Secret", where, file, v.Name)
				return ps
			}
			key := rel
			if len(items) > 0 {
				i := slices.IndexFunc(items, func(k keyPath) bool { return k.Path == rel })
				if i < 0 {
					ps.add("%s: %s: volume %s's items put no file at %s", where, file, v.Name, rel)
					return ps
				}
				key = items[i].Key
			}
			o := find(objs, kind, name)
			if o == nil {
				ps.add("%s: %s is in %s %s, which the manifests do not hold", where, file, kind, name)
			} else if _, ok := o.value(key); !ok {
				ps.add("%s: %s is key %s of %s %s, which does not hold it", where, file, key, kind, name)
			}
			return ps
		}
		ps.add("%s: mount %s names no volume", where, m.Name)
		return ps
	}
	ps.add("%s: %s is on no volume mount", where, file)
	return ps
}

// kubeFiles reads deploy/kubernetes/*.yaml by base name.
func kubeFiles(t *testing.T) map[string][]byte {
	t.Helper()
	found, err := filepath.Glob(filepath.Join(root, "deploy", "kubernetes", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range found {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(f)] = b
	}
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/kubernetes")
	}
	return files
}

func TestKubernetes(t *testing.T) {
	report(t, checkKubernetes(kubeFiles(t)))
}
