package deploy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmerge/segmerge/internal/kafka"
)

// root is the module's root directory, segmerge the binary built from
// its ./cmd/segmerge: the command lines in the examples are checked
// against what that binary accepts, not against a list kept here.
var root, segmerge string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		fmt.Fprintf(os.Stderr, "deploy: go env GOMOD: no module (%v)\n", err)
		return 1
	}
	root = filepath.Dir(strings.TrimSpace(string(gomod)))
	tmp, err := os.MkdirTemp("", "segmerge-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	segmerge = filepath.Join(tmp, "segmerge")
	build := exec.Command("go", "build", "-o", segmerge, "./cmd/segmerge")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "deploy: go build ./cmd/segmerge: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// problems collects what a check found wrong, one sentence each.
type problems []string

func (p *problems) add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// report fails t with each problem.
func report(t *testing.T, ps problems) {
	t.Helper()
	for _, p := range ps {
		t.Error(p)
	}
}

// readFile reads a file of the module by its path from the root.
func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flagSpec is a flag as segmerge's help lists it.
type flagSpec struct {
	name  string // long name, without dashes
	value bool   // it takes a value (it is not a bool)
}

// flagTables caches each subcommand's flags by "--name" and "-x".
var flagTables sync.Map // string -> map[string]flagSpec, or error

// helpFlag is a line of the Flags or Global Flags section of cobra's help:
// "  -b, --brokers string   ..." or "      --console   ..." (a bool).
var helpFlag = regexp.MustCompile(`^\s+(?:-([A-Za-z0-9]), )?--([a-z0-9][a-z0-9-]*)(?: (\S+))?\s{2,}`)

// flagsOf returns the flags `segmerge sub --help` lists, or an error if
// segmerge has no such subcommand.
func flagsOf(sub string) (map[string]flagSpec, error) {
	if v, ok := flagTables.Load(sub); ok {
		if err, ok := v.(error); ok {
			return nil, err
		}
		return v.(map[string]flagSpec), nil
	}
	table, err := readHelp(sub)
	if err != nil {
		flagTables.Store(sub, err)
		return nil, err
	}
	flagTables.Store(sub, table)
	return table, nil
}

func readHelp(sub string) (map[string]flagSpec, error) {
	if sub == "" || strings.HasPrefix(sub, "-") || sub == "help" || sub == "completion" {
		return nil, fmt.Errorf("%q is not a segmerge subcommand", sub)
	}
	out, err := exec.Command(segmerge, sub, "--help").Output()
	if err != nil || !strings.Contains(string(out), "\n  segmerge "+sub+" [flags]\n") {
		return nil, fmt.Errorf("segmerge has no subcommand %q", sub)
	}
	table := map[string]flagSpec{}
	section := false
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case line == "Flags:" || line == "Global Flags:":
			section = true
			continue
		case line == "" || !strings.HasPrefix(line, " "):
			section = false
			continue
		}
		if !section {
			continue
		}
		m := helpFlag.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := flagSpec{name: m[2], value: m[3] != ""}
		table["--"+f.name] = f
		if m[1] != "" {
			table["-"+m[1]] = f
		}
	}
	if len(table) < 3 {
		return nil, fmt.Errorf("segmerge %s --help lists %d flags: the help's form has changed, and this test reads it", sub, len(table))
	}
	return table, nil
}

// cmdline is a segmerge command line, parsed.
type cmdline struct {
	args  []string
	sub   string
	flags map[string][]string // by long name: the values given, "true" for a bool
}

// get returns the last value given for flag name, and whether it was.
func (c cmdline) get(name string) (string, bool) {
	v := c.flags[name]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// parseCommand checks a segmerge command line (the arguments after the
// binary) in two ways. First it parses it as pflag would with the flag
// table the subcommand's help prints: every flag must exist, a flag that
// takes a value must have one, and no argument may be left over (cobra's
// --help path ignores stray arguments, so only this parse finds them); the
// values it collects feed the other checks. Then it runs the real parser:
// `segmerge ARGS --help` exits 0 only if pflag took every flag and could
// convert its value (a duration, a number). Neither step needs a broker.
func parseCommand(where string, args []string) (cmdline, problems) {
	var ps problems
	c := cmdline{args: args, flags: map[string][]string{}}
	if len(args) == 0 {
		ps.add("%s: segmerge with no subcommand", where)
		return c, ps
	}
	c.sub = args[0]
	table, err := flagsOf(c.sub)
	if err != nil {
		ps.add("%s: %v", where, err)
		return c, ps
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		next := func() (string, bool) {
			if i+1 >= len(args) {
				return "", false
			}
			i++
			return args[i], true
		}
		switch {
		case a == "--":
			ps.add("%s: arguments after -- (%q): segmerge %s takes none", where, args[i+1:], c.sub)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a, "=")
			f, ok := table[name]
			if !ok {
				ps.add("%s: segmerge %s has no flag %s", where, c.sub, name)
				continue
			}
			if f.value && !hasVal {
				if val, hasVal = next(); !hasVal {
					ps.add("%s: %s needs a value", where, name)
					continue
				}
			}
			if !f.value && !hasVal {
				val = "true"
			}
			c.flags[f.name] = append(c.flags[f.name], val)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// A cluster of shorthands: -eq, or -b host:port, -bhost:port.
			for j := 1; j < len(a); j++ {
				f, ok := table["-"+a[j:j+1]]
				if !ok {
					ps.add("%s: segmerge %s has no flag -%s", where, c.sub, a[j:j+1])
					break
				}
				if !f.value {
					c.flags[f.name] = append(c.flags[f.name], "true")
					continue
				}
				val := strings.TrimPrefix(a[j+1:], "=")
				if val == "" {
					var ok bool
					if val, ok = next(); !ok {
						ps.add("%s: -%s needs a value", where, a[j:j+1])
						break
					}
				}
				c.flags[f.name] = append(c.flags[f.name], val)
				break
			}
		default:
			ps.add("%s: stray argument %q: segmerge %s takes flags only", where, a, c.sub)
		}
	}
	if len(ps) > 0 {
		// A flag left without its value would take the --help added
		// below as its value, and the command would run for real.
		return c, ps
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	real := exec.CommandContext(ctx, segmerge, append(append([]string{}, args...), "--help")...)
	// Should the command run anyway, it finds no broker to talk to.
	real.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "SEGMERGE_BROKERS=127.0.0.1:1"}
	var stderr bytes.Buffer
	real.Stderr = &stderr
	if err := real.Run(); err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		ps.add("%s: segmerge does not parse %q: %s", where, args, msg)
	}
	return c, ps
}

// checkCommand parses a segmerge command line and checks what it sets:
// each -X key is a property segmerge reads and is no secret, and no
// password is written out in it.
func checkCommand(where string, args []string) (cmdline, problems) {
	c, ps := parseCommand(where, args)
	for _, kv := range c.flags["property"] {
		key, _, ok := strings.Cut(kv, "=")
		if !ok {
			ps.add("%s: -X %q is not key=value", where, kv)
			continue
		}
		if _, known := kafka.Canonical(key); !known {
			ps.add("%s: -X %s: segmerge reads no such client property", where, key)
		}
		if kafka.Secret(key) {
			ps.add("%s: -X %s puts a secret on the command line, where ps shows it: use SEGMERGE_X_%s from a secret", where, key, envName(key))
		}
	}
	ps = append(ps, inlineSecrets(where, args)...)
	return c, ps
}

// literalPassword is a password written into an argument: password=x or
// pass: x, not password=$VAR (a reference the shell or Kubernetes fills).
var literalPassword = regexp.MustCompile(`(?i)(password|passwd|pwd|pass)\s*[=:]\s*[^$\s\]]`)

// inlineSecrets reports arguments of any command line that hold a password.
func inlineSecrets(where string, args []string) problems {
	var ps problems
	for _, a := range args {
		if literalPassword.MatchString(a) {
			ps.add("%s: a password is written into the command line (%q): pass it in the environment from a secret", where, a)
		}
	}
	return ps
}

// envName is the SEGMERGE_X_ variable's suffix for a property key.
func envName(key string) string {
	return strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// envProperty returns the client property a SEGMERGE_X_* variable sets,
// as segmerge reads it (lower case, underscores as dots), and whether the
// name is a SEGMERGE_X_ one at all.
func envProperty(name string) (key string, isX bool) {
	rest, ok := strings.CutPrefix(name, "SEGMERGE_X_")
	if !ok {
		return "", false
	}
	return strings.ReplaceAll(strings.ToLower(rest), "_", "."), true
}

// checkClientEnv checks the environment a segmerge process gets: every
// SEGMERGE_X_* variable names a property segmerge reads, and together
// they make client options segmerge accepts (a protocol it knows, SASL
// with a mechanism and a user, and so on), checked by segmerge's own
// kafka.Props with any file they name read as a CA certificate.
func checkClientEnv(where string, env map[string]string) problems {
	var ps problems
	var props kafka.Props
	for name, v := range env {
		key, isX := envProperty(name)
		if !isX {
			continue
		}
		if err := props.Set(key, v, "$"+name); err != nil {
			ps.add("%s: %v", where, err)
		}
	}
	if len(ps) > 0 {
		return ps
	}
	if _, _, err := props.Options(func(string) ([]byte, error) { return testCA(), nil }); err != nil {
		ps.add("%s: segmerge refuses the client settings: %v", where, err)
	}
	return ps
}

var (
	testCAOnce sync.Once
	testCAPEM  []byte
)

// testCA is a CA certificate in PEM, what a file named by ssl.ca.location
// holds when the check reads it.
func testCA() []byte {
	testCAOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "deploy test CA"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		testCAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	})
	return testCAPEM
}

// checkPropertiesFile checks a properties file for segmerge -F: segmerge
// reads every key in it, and it holds no secret (the examples are in git).
func checkPropertiesFile(name string, data []byte) problems {
	var ps problems
	props, err := kafka.ReadProperties(bytes.NewReader(data), name)
	if err != nil {
		ps.add("%s: segmerge -F refuses it: %v", name, err)
		return ps
	}
	for _, p := range kafka.Known {
		if _, ok := props.Get(p.Key); ok && p.Secret {
			ps.add("%s: sets the secret %s in a file kept in git: take it from the environment", name, p.Key)
		}
	}
	return ps
}

// brokerList reads host:port,host:port.
func brokerList(s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if _, port, err := splitHostPort(b); err != nil || port == 0 {
			return nil, fmt.Errorf("%q is not host:port", b)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q names no broker", s)
	}
	return out, nil
}

// splitHostPort splits host:port (host may be empty, as in Kafka's
// listeners) and reads the port.
func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("%q has no port", s)
	}
	port, err := strconv.Atoi(s[i+1:])
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", s)
	}
	return s[:i], port, nil
}

// segmergeSize reads a --memory value in the forms the examples use: a
// whole number of bytes, or with KiB, MiB or GiB. (segmerge takes more
// forms; keeping to these keeps this reading exact.)
func segmergeSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil || v <= 0 {
				break
			}
			return v * u.mult, nil
		}
	}
	return 0, fmt.Errorf("--memory %q: write it as a whole number of KiB, MiB or GiB for this check", s)
}

// kubeQuantity reads a Kubernetes memory quantity: 512Mi, 1Gi, 500M, 1e9, 1073741824.
func kubeQuantity(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"", 1},
	}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v <= 0 {
				break
			}
			return int64(v * float64(u.mult)), nil
		}
	}
	return 0, fmt.Errorf("%q is not a Kubernetes memory quantity", s)
}

// dockerBytes reads a Docker memory size (mem_limit): a number with b, k,
// m or g (kb, mb, gb too), all binary, as docker reads them.
func dockerBytes(s string) (int64, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   int64
	}{
		{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}, {"", 1},
	}
	for _, u := range units {
		if n, ok := strings.CutSuffix(l, u.suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v <= 0 {
				break
			}
			return int64(v * float64(u.mult)), nil
		}
	}
	return 0, fmt.Errorf("%q is not a memory size", s)
}

// memoryFits checks a memory limit against segmerge's --memory: at least
// it (--memory is the whole footprint), and at most a quarter over it
// (more is memory segmerge never uses: raise --memory with it).
func memoryFits(where string, memory string, limit int64, limitText string) problems {
	var ps problems
	m, err := segmergeSize(memory)
	if err != nil {
		ps.add("%s: %v", where, err)
		return ps
	}
	switch {
	case limit < m:
		ps.add("%s: memory limit %s is below --memory %s: the kernel kills segmerge before it holds back", where, limitText, memory)
	case limit > m+m/4:
		ps.add("%s: memory limit %s is more than a quarter over --memory %s: segmerge never uses the rest; raise --memory with it", where, limitText, memory)
	}
	return ps
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // a problem's text, "" for none
	}{
		{[]string{"consume", "-b", "k:1", "-eq", "--memory=64MiB", "-Xsecurity.protocol=SSL"}, ""},
		{[]string{"produce", "--interval", "100ms", "-bk:1"}, ""},
		{[]string{"consume", "--no-such-flag"}, "has no flag --no-such-flag"},
		{[]string{"consume", "-Z"}, "has no flag -Z"},
		{[]string{"consume", "--interval", "1s"}, "has no flag --interval"},
		{[]string{"consume", "merged"}, "stray argument"},
		{[]string{"consume", "--output-topic"}, "needs a value"},
		{[]string{"produce", "--interval", "100mss"}, "does not parse"},
		{[]string{"produce", "--batches", "ten"}, "does not parse"},
		{[]string{"merge", "-b", "k:1"}, "no subcommand"},
		{[]string{"consume", "-X", "sasl.password=hunter2"}, "secret on the command line"},
		{[]string{"consume", "-X", "no.such.key=1"}, "no such client property"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, ps := checkCommand("test", tc.args)
			got := strings.Join(ps, "\n")
			switch {
			case tc.want == "" && len(ps) > 0:
				t.Errorf("problems with a good command line:\n%s", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("want a problem with %q, got:\n%s", tc.want, got)
			}
		})
	}
}

func TestPropertiesFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "deploy", "*", "*.properties"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no properties file under deploy/: the glob or the layout changed")
	}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		report(t, checkPropertiesFile(rel, readFile(t, rel)))
	}
}

// readmeCommands returns the segmerge command lines of deploy/README.md's
// code blocks: lines that run segmerge, and `docker compose run` lines
// that run the consumer's image with other arguments (continuation
// lines joined, comments cut).
func readmeCommands(data string) [][]string {
	var out [][]string
	in, cur := false, ""
	for _, line := range strings.Split(data, "\n") {
		if strings.HasPrefix(line, "```") {
			in = !in
			continue
		}
		if !in {
			continue
		}
		if s, ok := strings.CutSuffix(strings.TrimSpace(line), `\`); ok {
			cur += s + " "
			continue
		}
		line, _, _ = strings.Cut(cur+line, "#")
		cur = ""
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "segmerge":
			out = append(out, f[1:])
		case len(f) > 2 && f[0] == "docker" && f[1] == "compose" && slices.Contains(f, "run"):
			if i := slices.Index(f, "consumer"); i >= 0 && i+1 < len(f) {
				out = append(out, f[i+1:])
			}
		}
	}
	return out
}

// checkReadme checks the segmerge command lines deploy/README.md shows
// as the compose files' are checked, and that a -F file they name exists.
func checkReadme(data string) problems {
	var ps problems
	cmds := readmeCommands(data)
	if len(cmds) < 3 {
		ps.add("deploy/README.md shows %d segmerge command lines: the reading of it broke", len(cmds))
	}
	for _, args := range cmds {
		c, cps := checkCommand("deploy/README.md", args)
		ps = append(ps, cps...)
		if f, ok := c.get("config"); ok {
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				ps.add("deploy/README.md: -F %s: %v", f, err)
			}
		}
	}
	return ps
}

func TestReadme(t *testing.T) {
	report(t, checkReadme(string(readFile(t, "deploy/README.md"))))
}

// self is this package's import path.
const self = "github.com/segmerge/segmerge/deploy"

// importers reads `go list -f '{{.ImportPath}}{{range .Imports}} {{.}}{{end}}'`
// and returns the packages, other than this one and its tests, that
// import this one.
func importers(list string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && !strings.HasPrefix(f[0], self) && slices.Contains(f[1:], self) {
			out = append(out, f[0])
		}
	}
	return out
}

// TestNotImported keeps the package what its doc says: examples and their
// check, which no package of the module imports (its tests included).
func TestNotImported(t *testing.T) {
	fake := "github.com/segmerge/segmerge/merge fmt " + self + "\n" + self + " testing"
	if got := importers(fake); !slices.Equal(got, []string{"github.com/segmerge/segmerge/merge"}) {
		t.Fatalf("importers missed an importer: %v", got)
	}
	cmd := exec.Command("go", "list", "-test", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if n := strings.Count(string(out), "\n"); n < 15 {
		t.Fatalf("go list named %d packages: the test read nothing like the module", n)
	}
	for _, p := range importers(string(out)) {
		t.Errorf("%s imports %s, which holds only examples and their test", p, self)
	}
}
