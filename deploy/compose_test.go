package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/segmerge/segmerge/internal/kafka"
)

// composeFiles are the compose files the test knows; a new one belongs here.
var composeFiles = []string{"deploy/docker-compose.yml", "deploy/docker-compose.sasl-ssl.yml"}

// hostPorts are the ports the brokers answer the host on: those of the
// original take-home and of `segmerge broker`.
var hostPorts = []int{9091, 9092, 9093}

// composeFile is what the checks read of a compose file.
type composeFile struct {
	Name     string
	Services map[string]composeService
}

type composeService struct {
	Image           string
	Hostname        string
	Restart         string
	MemLimit        string `yaml:"mem_limit"`
	StopGracePeriod string `yaml:"stop_grace_period"`
	Build           any
	Command         any
	Entrypoint      any
	Environment     any
	EnvFile         any `yaml:"env_file"`
	Ports           []any
	Volumes         []any
	Healthcheck     struct{ Test any }
}

// compose is a compose file as the checks see it: dir resolves its
// relative paths (the file's own directory, from the module root).
type compose struct {
	name string
	dir  string
	file composeFile
}

func parseCompose(name string, data []byte) (*compose, error) {
	c := &compose{name: name, dir: path.Dir(name)}
	if err := yaml.Unmarshal(data, &c.file); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(c.file.Services) == 0 {
		return nil, fmt.Errorf("%s: no services", name)
	}
	return c, nil
}

// serviceNames returns the services' names, sorted, so problems come in
// a stable order.
func (c *compose) serviceNames() []string {
	var names []string
	for n := range c.file.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// host is the name other containers reach a service by.
func (c *compose) host(name string) string {
	if h := c.file.Services[name].Hostname; h != "" {
		return h
	}
	return name
}

// list reads a command, an entrypoint or a health check: a list of
// strings. A string would be split by compose's shell-like rules, which
// the checks do not model, so it is a problem.
func list(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %d (%v) is not a string", i, e)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("%v is not a list: write it as one, [\"a\", \"b\"]", v)
}

// envOf reads a service's environment: a map, or a list of KEY=VALUE.
func envOf(v any) (map[string]string, error) {
	env := map[string]string{}
	switch v := v.(type) {
	case nil:
	case map[string]any:
		for k, val := range v {
			if val == nil {
				env[k] = ""
				continue
			}
			env[k] = fmt.Sprint(val)
		}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("environment entry %v is not KEY=VALUE", e)
			}
			k, val, _ := strings.Cut(s, "=")
			env[k] = val
		}
	default:
		return nil, fmt.Errorf("environment %v is neither a map nor a list", v)
	}
	return env, nil
}

// envFiles reads a service's env_file: a path, a list of paths, or a list
// of {path, required}.
func envFiles(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		var out []string
		for _, e := range v {
			switch e := e.(type) {
			case string:
				out = append(out, e)
			case map[string]any:
				p, _ := e["path"].(string)
				out = append(out, p)
			default:
				return nil, fmt.Errorf("env_file entry %v", e)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("env_file %v", v)
}

// readEnvFile reads a compose env file, KEY=VALUE lines. The file the
// operator writes is not in git; its committed example (the same name
// with .example) stands in for it when it is missing.
func readEnvFile(rel string) (map[string]string, string, error) {
	used := rel
	b, err := os.ReadFile(filepath.Join(root, rel))
	if os.IsNotExist(err) {
		used = rel + ".example"
		b, err = os.ReadFile(filepath.Join(root, used))
	}
	if err != nil {
		return nil, used, fmt.Errorf("env_file %s: neither it nor %s.example exists", rel, rel)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, used, fmt.Errorf("%s: %q is not KEY=VALUE", used, line)
		}
		env[k] = v
	}
	return env, used, sc.Err()
}

// portMap is a published port: host (0 if none) to container.
type portMap struct{ host, container int }

func portsOf(v []any) ([]portMap, error) {
	var out []portMap
	for _, p := range v {
		switch p := p.(type) {
		case string:
			s, _, _ := strings.Cut(p, "/")
			parts := strings.Split(s, ":")
			var pm portMap
			var err error
			if pm.container, err = strconv.Atoi(parts[len(parts)-1]); err != nil {
				return nil, fmt.Errorf("port %q", p)
			}
			if len(parts) > 1 {
				if pm.host, err = strconv.Atoi(parts[len(parts)-2]); err != nil {
					return nil, fmt.Errorf("port %q", p)
				}
			}
			out = append(out, pm)
		case map[string]any:
			t, _ := strconv.Atoi(fmt.Sprint(p["target"]))
			h, _ := strconv.Atoi(fmt.Sprint(p["published"]))
			out = append(out, portMap{host: h, container: t})
		default:
			return nil, fmt.Errorf("port %v", p)
		}
	}
	return out, nil
}

// mountTargets returns where a service's volumes are mounted.
func mountTargets(v []any) []string {
	var out []string
	for _, m := range v {
		switch m := m.(type) {
		case string:
			parts := strings.Split(m, ":")
			if len(parts) >= 2 {
				out = append(out, parts[1])
			}
		case map[string]any:
			if t, ok := m["target"].(string); ok {
				out = append(out, t)
			}
		}
	}
	return out
}

// mounted reports whether file lies in (or is) one of the targets.
func mounted(file string, targets []string) bool {
	for _, t := range targets {
		if file == t || strings.HasPrefix(file, strings.TrimSuffix(t, "/")+"/") {
			return true
		}
	}
	return false
}

// dockerfile returns the Dockerfile a service is built from, from the
// module root, or "" if it is not built.
func (c *compose) dockerfile(s composeService) string {
	switch b := s.Build.(type) {
	case string:
		return path.Join(c.dir, b, "Dockerfile")
	case map[string]any:
		ctx, _ := b["context"].(string)
		df, _ := b["dockerfile"].(string)
		if df == "" {
			df = "Dockerfile"
		}
		return path.Join(c.dir, ctx, df)
	}
	return ""
}

// isSegmerge reports whether a service runs the segmerge image.
func (c *compose) isSegmerge(s composeService) bool {
	if c.dockerfile(s) == "deploy/Dockerfile" {
		return true
	}
	img, _, _ := strings.Cut(path.Base(s.Image), ":")
	return img == "segmerge"
}

// isKafkaNode reports whether a service is a Kafka node: the Kafka image
// with KRaft roles (the image also runs one-shot tools).
func isKafkaNode(s composeService) bool {
	env, _ := envOf(s.Environment)
	_, roles := env["KAFKA_PROCESS_ROLES"]
	return strings.HasPrefix(s.Image, "apache/kafka:") && roles
}

// listener is one entry of Kafka's listeners or advertised.listeners.
type listener struct {
	name, host string
	port       int
}

func parseListeners(s string) ([]listener, error) {
	var out []listener
	for _, l := range strings.Split(s, ",") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		name, addr, ok := strings.Cut(l, "://")
		if !ok {
			return nil, fmt.Errorf("%q is not NAME://host:port", l)
		}
		host, port, err := splitHostPort(addr)
		if err != nil {
			return nil, err
		}
		out = append(out, listener{name: name, host: host, port: port})
	}
	return out, nil
}

// broker is a Kafka node of a compose file, its settings read.
type broker struct {
	service    string
	host       string
	env        map[string]string
	id         int
	roles      []string
	listeners  map[string]listener // by name
	advertised []listener
	protocols  map[string]string // listener name -> security protocol
	ports      []portMap
}

// brokers reads the Kafka nodes of the file.
func (c *compose) brokers() ([]*broker, problems) {
	var ps problems
	var out []*broker
	for _, name := range c.serviceNames() {
		s := c.file.Services[name]
		if !isKafkaNode(s) {
			continue
		}
		where := c.name + ": " + name
		env, err := envOf(s.Environment)
		if err != nil {
			ps.add("%s: %v", where, err)
			continue
		}
		b := &broker{service: name, host: c.host(name), env: env, listeners: map[string]listener{}, protocols: map[string]string{}}
		if b.id, err = strconv.Atoi(env["KAFKA_NODE_ID"]); err != nil {
			ps.add("%s: KAFKA_NODE_ID %q is not a number", where, env["KAFKA_NODE_ID"])
		}
		b.roles = strings.Split(env["KAFKA_PROCESS_ROLES"], ",")
		ls, err := parseListeners(env["KAFKA_LISTENERS"])
		if err != nil || len(ls) == 0 {
			ps.add("%s: KAFKA_LISTENERS %q: %v", where, env["KAFKA_LISTENERS"], err)
		}
		for _, l := range ls {
			if _, dup := b.listeners[l.name]; dup {
				ps.add("%s: listener %s twice", where, l.name)
			}
			b.listeners[l.name] = l
		}
		if b.advertised, err = parseListeners(env["KAFKA_ADVERTISED_LISTENERS"]); err != nil {
			ps.add("%s: KAFKA_ADVERTISED_LISTENERS: %v", where, err)
		}
		for _, m := range strings.Split(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"], ",") {
			if n, p, ok := strings.Cut(strings.TrimSpace(m), ":"); ok {
				b.protocols[n] = p
			}
		}
		if b.ports, err = portsOf(s.Ports); err != nil {
			ps.add("%s: %v", where, err)
		}
		out = append(out, b)
	}
	return out, ps
}

func (b *broker) hasRole(r string) bool { return slices.Contains(b.roles, r) }

// protocol is the security protocol of a listener name.
func (b *broker) protocol(name string) string {
	if p, ok := b.protocols[name]; ok {
		return p
	}
	return name // a listener may be named after its protocol
}

// checkKafka checks the Kafka nodes of a compose file against each other:
// three brokers on the host's ports 9091-9093, unique node ids, a quorum
// that names every controller where it listens, advertised listeners that
// are reachable where they are advertised, and the replication segmerge's
// transactional output needs.
func checkKafka(c *compose) problems {
	bs, ps := c.brokers()
	if len(bs) < 3 {
		ps.add("%s: %d Kafka nodes; replication factor 3 needs three brokers", c.name, len(bs))
		return ps
	}
	published := map[int][]string{}
	ids := map[int]string{}
	var controllers []*broker
	var brokerCount int
	for _, b := range bs {
		where := c.name + ": " + b.service
		if other, dup := ids[b.id]; dup {
			ps.add("%s: KAFKA_NODE_ID %d is %s's too", where, b.id, other)
		}
		ids[b.id] = b.service
		if b.hasRole("controller") {
			controllers = append(controllers, b)
		}
		if b.hasRole("broker") {
			brokerCount++
		}
		for _, p := range b.ports {
			if p.host != 0 {
				published[p.host] = append(published[p.host], b.service)
			}
		}
		for _, k := range []string{"CLUSTER_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_CONTROLLER_LISTENER_NAMES"} {
			if b.env[k] != bs[0].env[k] {
				ps.add("%s: %s %q differs from %s's %q: every node needs the same", where, k, b.env[k], bs[0].service, bs[0].env[k])
			}
		}
		if b.env["CLUSTER_ID"] == "" {
			ps.add("%s: no CLUSTER_ID: the image formats storage with it", where)
		}
	}
	if brokerCount < 3 {
		ps.add("%s: %d nodes have the broker role; replication factor 3 needs three", c.name, brokerCount)
	}
	for _, p := range hostPorts {
		if len(published[p]) != 1 {
			ps.add("%s: host port %d is published by %d brokers (%v): one each for 9091, 9092 and 9093", c.name, p, len(published[p]), published[p])
		}
	}
	ps = append(ps, checkVoters(c.name, bs[0].env["KAFKA_CONTROLLER_QUORUM_VOTERS"], controllers)...)
	for _, b := range bs {
		where := c.name + ": " + b.service
		ps = append(ps, checkListeners(where, b)...)
		ps = append(ps, checkReplication(where, b.env)...)
	}
	return ps
}

// checkListeners checks one node's listeners: each has a security
// protocol, the controller and inter-broker listeners exist, the
// controller listener is not advertised (Kafka refuses that on a broker),
// and each advertised listener is reachable where it says: on the compose
// network at the service's own name and the listener's port, or on the
// host (localhost, 127.0.0.1) at a published port mapped to it.
func checkListeners(where string, b *broker) problems {
	var ps problems
	for name := range b.listeners {
		if _, ok := b.protocols[name]; !ok && !slices.Contains([]string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}, name) {
			ps.add("%s: listener %s has no protocol in KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", where, name)
		}
	}
	ctl := strings.Split(b.env["KAFKA_CONTROLLER_LISTENER_NAMES"], ",")
	if b.hasRole("controller") {
		for _, n := range ctl {
			if _, ok := b.listeners[n]; !ok {
				ps.add("%s: controller listener %s is not in KAFKA_LISTENERS", where, n)
			}
		}
	}
	if !b.hasRole("broker") {
		return ps
	}
	ibl := b.env["KAFKA_INTER_BROKER_LISTENER_NAME"]
	if _, ok := b.listeners[ibl]; !ok {
		ps.add("%s: inter-broker listener %q is not in KAFKA_LISTENERS", where, ibl)
	}
	if !slices.ContainsFunc(b.advertised, func(l listener) bool { return l.name == ibl }) {
		ps.add("%s: inter-broker listener %q is not advertised", where, ibl)
	}
	for _, a := range b.advertised {
		l, ok := b.listeners[a.name]
		switch {
		case !ok:
			ps.add("%s: advertised listener %s is not in KAFKA_LISTENERS", where, a.name)
		case slices.Contains(ctl, a.name):
			ps.add("%s: the controller listener %s is advertised: Kafka refuses that on a broker", where, a.name)
		case a.host == "localhost" || a.host == "127.0.0.1":
			if !slices.Contains(b.ports, portMap{host: a.port, container: l.port}) {
				ps.add("%s: %s advertises %s:%d to the host, but no published port maps %d to the listener's %d", where, a.name, a.host, a.port, a.port, l.port)
			}
		case a.host != b.host:
			ps.add("%s: %s advertises host %s, but the other containers reach this one as %s", where, a.name, a.host, b.host)
		case a.port != l.port:
			ps.add("%s: %s advertises port %d, but the listener is on %d", where, a.name, a.port, l.port)
		}
	}
	return ps
}

// checkVoters checks that the quorum voters are exactly the controllers,
// each at its own host and controller listener's port.
func checkVoters(where, voters string, controllers []*broker) problems {
	var ps problems
	byID := map[int]*broker{}
	for _, b := range controllers {
		byID[b.id] = b
	}
	seen := map[int]bool{}
	for _, v := range strings.Split(voters, ",") {
		idText, addr, ok := strings.Cut(strings.TrimSpace(v), "@")
		id, err := strconv.Atoi(idText)
		host, port, perr := splitHostPort(addr)
		if !ok || err != nil || perr != nil {
			ps.add("%s: quorum voter %q is not ID@host:port", where, v)
			continue
		}
		seen[id] = true
		b, ok := byID[id]
		if !ok {
			ps.add("%s: quorum voter %d is no controller's node id", where, id)
			continue
		}
		ctl, _, _ := strings.Cut(b.env["KAFKA_CONTROLLER_LISTENER_NAMES"], ",")
		if host != b.host || port != b.listeners[ctl].port {
			ps.add("%s: quorum voter %d is %s:%d, but %s's controller listener is %s:%d", where, id, host, port, b.service, b.host, b.listeners[ctl].port)
		}
	}
	for _, b := range controllers {
		if !seen[b.id] {
			ps.add("%s: controller %s (node %d) is not a quorum voter", where, b.service, b.id)
		}
	}
	if len(controllers)%2 == 0 {
		ps.add("%s: %d controllers: an odd number tolerates as many failures with one less", where, len(controllers))
	}
	return ps
}

// checkReplication checks the settings segmerge's transactional output
// relies on: replication 3 with min.insync.replicas 2 for topics,
// consumer offsets and the transaction state log.
func checkReplication(where string, env map[string]string) problems {
	var ps problems
	for _, want := range []struct {
		key   string
		value int
	}{
		{"KAFKA_DEFAULT_REPLICATION_FACTOR", 3},
		{"KAFKA_MIN_INSYNC_REPLICAS", 2},
		{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", 3},
		{"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", 3},
		{"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", 2},
	} {
		if got := env[want.key]; got != strconv.Itoa(want.value) {
			ps.add("%s: %s is %q, want %d", where, want.key, got, want.value)
		}
	}
	return ps
}

// checkSegmergeServices checks the services that run segmerge: built from
// deploy/Dockerfile with its entrypoint; a command line segmerge takes;
// brokers it names that are the cluster's advertised listeners, with the
// security protocol those listeners speak; client settings segmerge reads,
// the password from an env file (git-ignored) and never written in; files
// on volumes; and, for consumers, a restart policy, a stop grace period
// and a memory limit that fit segmerge.
func checkSegmergeServices(c *compose) problems {
	bs, _ := c.brokers() // checkKafka reports their problems
	var ps problems
	// Where the cluster's advertised listeners are, and what they speak.
	advertised := map[string]string{}
	for _, b := range bs {
		for _, a := range b.advertised {
			advertised[fmt.Sprintf("%s:%d", a.host, a.port)] = b.protocol(a.name)
		}
	}
	subs := map[string]int{}
	for _, name := range c.serviceNames() {
		s := c.file.Services[name]
		where := c.name + ": " + name
		ps = append(ps, checkNoInlineSecrets(where, s)...)
		if !c.isSegmerge(s) {
			continue
		}
		if df := c.dockerfile(s); df != "deploy/Dockerfile" {
			ps.add("%s: runs segmerge but is not built from deploy/Dockerfile (%q)", where, df)
		}
		if s.Entrypoint != nil {
			ps.add("%s: sets an entrypoint: the image's is segmerge, and the command is its arguments", where)
		}
		args, err := list(s.Command)
		if err != nil || len(args) == 0 {
			ps.add("%s: command: %v", where, err)
			continue
		}
		cmd, cps := checkCommand(where, args)
		ps = append(ps, cps...)
		subs[cmd.sub]++

		env, err := envOf(s.Environment)
		if err != nil {
			ps.add("%s: %v", where, err)
		}
		files, err := envFiles(s.EnvFile)
		if err != nil {
			ps.add("%s: %v", where, err)
		}
		for _, f := range files {
			rel := path.Join(c.dir, f)
			fenv, used, err := readEnvFile(rel)
			if err != nil {
				ps.add("%s: %v", where, err)
				continue
			}
			for k, v := range fenv {
				if _, set := env[k]; set {
					ps.add("%s: %s is in both environment and %s", where, k, used)
				}
				env[k] = v
				if key, isX := envProperty(k); isX && kafka.Secret(key) {
					ps = append(ps, checkIgnored(where, rel)...)
				}
			}
		}
		ps = append(ps, checkClientEnv(where, env)...)
		targets := mountTargets(s.Volumes)
		if ca, ok := env["SEGMERGE_X_SSL_CA_LOCATION"]; ok && !mounted(ca, targets) {
			ps.add("%s: SEGMERGE_X_SSL_CA_LOCATION %s is on no volume of the service", where, ca)
		}
		for _, f := range []string{"out-file", "input-log"} {
			if p, ok := cmd.get(f); ok && !mounted(p, targets) {
				ps.add("%s: --%s %s is on no volume: it is lost with the container", where, f, p)
			}
		}

		// The brokers: -b, else SEGMERGE_BROKERS, else the embedded
		// cluster's 127.0.0.1 ports, which are not the containers'.
		named, ok := cmd.get("brokers")
		if !ok {
			named, ok = env["SEGMERGE_BROKERS"]
		}
		if !ok {
			ps.add("%s: names no brokers (-b or SEGMERGE_BROKERS): segmerge would dial 127.0.0.1, its own container", where)
		}
		addrs, err := brokerList(named)
		if ok && err != nil {
			ps.add("%s: brokers: %v", where, err)
		}
		proto := strings.ToUpper(env["SEGMERGE_X_SECURITY_PROTOCOL"])
		if proto == "" {
			proto = "PLAINTEXT"
		}
		for _, a := range addrs {
			p, ok := advertised[a]
			switch {
			case !ok:
				ps.add("%s: broker %s is no listener the cluster advertises", where, a)
			case strings.HasPrefix(a, "localhost:") || strings.HasPrefix(a, "127.0.0.1:"):
				ps.add("%s: broker %s is the host's listener, not reachable from a container", where, a)
			case p != proto:
				ps.add("%s: broker %s speaks %s, but segmerge's security.protocol is %s", where, a, p, proto)
			}
		}
		if mech := env["SEGMERGE_X_SASL_MECHANISM"]; mech != "" {
			for _, b := range bs {
				if enabled := b.env["KAFKA_SASL_ENABLED_MECHANISMS"]; !slices.Contains(strings.Split(enabled, ","), mech) {
					ps.add("%s: sasl.mechanism %s is not among %s's KAFKA_SASL_ENABLED_MECHANISMS %q", where, mech, b.service, enabled)
				}
			}
		}

		if cmd.sub != "consume" {
			continue
		}
		if !slices.Contains([]string{"unless-stopped", "always"}, s.Restart) && !strings.HasPrefix(s.Restart, "on-failure") {
			ps.add("%s: restart %q: a consumer that stops on its own should come back (unless-stopped)", where, s.Restart)
		}
		if d, err := time.ParseDuration(s.StopGracePeriod); err != nil || d < 30*time.Second {
			ps.add("%s: stop_grace_period %q: segmerge needs up to about 25s to stop cleanly; give it at least 30s", where, s.StopGracePeriod)
		}
		if m, ok := cmd.get("memory"); ok {
			lim, err := dockerBytes(s.MemLimit)
			if err != nil {
				ps.add("%s: --memory %s but mem_limit %q: set the limit a little above --memory", where, m, s.MemLimit)
			} else {
				ps = append(ps, memoryFits(where, m, lim, s.MemLimit)...)
			}
		}
	}
	for _, sub := range []string{"produce", "consume"} {
		if subs[sub] == 0 {
			ps.add("%s: no segmerge service runs %s", c.name, sub)
		}
	}
	return ps
}

// checkNoInlineSecrets checks any service for passwords written into the
// file: in its command, entrypoint or health check, or as the value of an
// environment variable whose name says password (env files, kept out of
// git, are where they go).
func checkNoInlineSecrets(where string, s composeService) problems {
	var ps problems
	for _, v := range []any{s.Command, s.Entrypoint, s.Healthcheck.Test} {
		args, _ := list(v)
		ps = append(ps, inlineSecrets(where, args)...)
	}
	env, _ := envOf(s.Environment)
	for k, v := range env {
		key, isX := envProperty(k)
		if v != "" && !strings.HasPrefix(v, "$") && (strings.Contains(k, "PASSWORD") || isX && kafka.Secret(key)) {
			ps.add("%s: %s is written into the compose file: put it in an env_file kept out of git", where, k)
		}
	}
	return ps
}

// checkIgnored checks that git ignores a file that holds a password.
func checkIgnored(where, rel string) problems {
	var ps problems
	if _, err := exec.LookPath("git"); err != nil {
		return ps
	}
	cmd := exec.Command("git", "check-ignore", "-q", "--no-index", rel)
	cmd.Dir = root
	if err := cmd.Run(); err != nil {
		ps.add("%s: %s holds a password but git does not ignore it", where, rel)
	}
	return ps
}

// checkSecured checks that a secured variant is secured: every listener
// of every node uses TLS.
func checkSecured(c *compose) problems {
	bs, _ := c.brokers() // checkKafka reports their problems
	var ps problems
	for _, b := range bs {
		for name := range b.listeners {
			if p := b.protocol(name); !strings.HasSuffix(p, "SSL") {
				ps.add("%s: %s: listener %s is %s, without TLS", c.name, b.service, name, p)
			}
		}
	}
	return ps
}

// serviceKeys are the keys of a service in the Compose Specification.
var serviceKeys = strings.Fields(`annotations attach build blkio_config cap_add cap_drop cgroup
	cgroup_parent command configs container_name cpu_count cpu_percent cpu_period cpu_quota
	cpu_rt_period cpu_rt_runtime cpu_shares cpus cpuset credential_spec depends_on deploy
	develop device_cgroup_rules devices dns dns_opt dns_search domainname driver_opts
	entrypoint env_file environment expose extends external_links extra_hosts gpus group_add
	healthcheck hostname image init ipc isolation label_file labels links logging mac_address
	mem_limit mem_reservation mem_swappiness memswap_limit models network_mode networks
	oom_kill_disable oom_score_adj pid pids_limit platform ports post_start pre_stop
	privileged profiles provider pull_policy read_only restart runtime scale secrets
	security_opt shm_size stdin_open stop_grace_period stop_signal storage_opt sysctls tmpfs
	tty ulimits use_api_socket user userns_mode uts volumes volumes_from working_dir`)

// topKeys are the top-level keys of a compose file.
var topKeys = []string{"name", "services", "volumes", "networks", "secrets", "configs", "include", "models", "version"}

// checkComposeKeys checks that every key of the file and of its services
// is one compose reads (or an x- extension):
// compose refuses an unknown key at start; a misspelt one here would
// also drop a setting the other checks assume.
func checkComposeKeys(name string, data []byte) problems {
	var ps problems
	var file struct {
		Services map[string]map[string]any
	}
	var top map[string]any
	if err := yaml.Unmarshal(data, &top); err != nil {
		return ps // parseCompose reports it
	}
	for k := range top {
		if !slices.Contains(topKeys, k) && !strings.HasPrefix(k, "x-") {
			ps.add("%s: %s is no top-level compose key", name, k)
		}
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return ps
	}
	for svc, keys := range file.Services {
		for k := range keys {
			if !slices.Contains(serviceKeys, k) && !strings.HasPrefix(k, "x-") {
				ps.add("%s: %s: %s is no compose service key (if the Compose Specification has gained it, add it to serviceKeys)", name, svc, k)
			}
		}
	}
	return ps
}

// checkComposeFile runs every compose check on one file.
func checkComposeFile(name string, data []byte) problems {
	c, err := parseCompose(name, data)
	if err != nil {
		return problems{err.Error()}
	}
	ps := checkComposeKeys(name, data)
	ps = append(ps, checkKafka(c)...)
	ps = append(ps, checkSegmergeServices(c)...)
	if strings.Contains(name, "sasl-ssl") {
		ps = append(ps, checkSecured(c)...)
	}
	return ps
}

func TestCompose(t *testing.T) {
	for _, f := range composeFiles {
		t.Run(path.Base(f), func(t *testing.T) {
			report(t, checkComposeFile(f, readFile(t, f)))
		})
	}
}

// TestComposeFilesListed keeps composeFiles whole: a compose file the
// list misses would go unchecked.
func TestComposeFilesListed(t *testing.T) {
	found, err := filepath.Glob(filepath.Join(root, "deploy", "*compose*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		rel, _ := filepath.Rel(root, f)
		if !slices.Contains(composeFiles, filepath.ToSlash(rel)) {
			t.Errorf("%s is not in composeFiles: the test does not check it", rel)
		}
	}
}
