package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is a FROM and what follows it.
type stage struct {
	image, name string
	body        []instruction
}

// parseDockerfile splits a Dockerfile into stages, with the global ARG
// defaults substituted into the FROM lines.
func parseDockerfile(data string) ([]stage, problems) {
	var ps problems
	var ins []instruction
	var cur string
	for _, line := range strings.Split(data, "\n") {
		t := strings.TrimSpace(line)
		if cur == "" && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if strings.HasPrefix(t, "#") {
			continue // a comment inside a continued instruction
		}
		if s, ok := strings.CutSuffix(t, `\`); ok {
			cur += s + " "
			continue
		}
		cur += t
		cmd, args, _ := strings.Cut(cur, " ")
		ins = append(ins, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur = ""
	}
	args := map[string]string{}
	var stages []stage
	for _, in := range ins {
		switch {
		case in.cmd == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			var st stage
			for i := 0; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					st.name = f[i+1]
					i++
				default:
					st.image = os.Expand(f[i], func(k string) string { return args[k] })
				}
			}
			stages = append(stages, st)
		case len(stages) == 0:
			ps.add("Dockerfile: %s before the first FROM", in.cmd)
		default:
			stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
		}
	}
	return stages, ps
}

// goBuild reads a RUN's go build: its -o and package, whether it builds
// with CGO_ENABLED=0 and -trimpath.
var (
	goBuildRE = regexp.MustCompile(`go build\s+(.*?)(?:&&|;|$)`)
	outputRE  = regexp.MustCompile(`(?:^|\s)-o[ =](\S+)`)
)

// checkDockerfile checks deploy/Dockerfile as text: a golang:1.26 stage
// builds the package ./cmd/segmerge statically (CGO_ENABLED=0,
// -trimpath), the final stage is distroless static or scratch with CA
// certificates, copies that binary from the build stage, runs it as
// ENTRYPOINT, and runs as a numeric, non-root user.
func checkDockerfile(data string) problems {
	stages, ps := parseDockerfile(data)
	if len(stages) < 2 {
		ps.add("Dockerfile: %d stages: build in one, run in another", len(stages))
		return ps
	}
	// The build: its stage, its output and its package.
	var build *stage
	var out, pkg string
	for i := range stages {
		for _, in := range stages[i].body {
			m := goBuildRE.FindStringSubmatch(in.args)
			if in.cmd != "RUN" || m == nil {
				continue
			}
			build = &stages[i]
			if !strings.HasPrefix(build.image, "golang:1.26") {
				ps.add("Dockerfile: go build runs in %s, not golang:1.26", build.image)
			}
			if !regexp.MustCompile(`(^|\s)CGO_ENABLED=0\s`).MatchString(in.args) {
				ps.add("Dockerfile: go build without CGO_ENABLED=0: the binary would not be static")
			}
			f := strings.Fields(m[1])
			if !strings.Contains(m[1], "-trimpath") {
				ps.add("Dockerfile: go build without -trimpath")
			}
			if o := outputRE.FindStringSubmatch(m[1]); o != nil {
				out = o[1]
			}
			if len(f) > 0 {
				pkg = f[len(f)-1]
			}
		}
	}
	if build == nil {
		ps.add("Dockerfile: no RUN runs go build")
		return ps
	}
	if pkg != "./cmd/segmerge" {
		ps.add("Dockerfile: go build builds %q, not ./cmd/segmerge", pkg)
	} else if name, err := exec.Command("go", "list", "-C", root, "-f", "{{.Name}}", pkg).Output(); err != nil || strings.TrimSpace(string(name)) != "main" {
		ps.add("Dockerfile: %s is no main package of the module (%v)", pkg, err)
	}
	if out == "" {
		ps.add("Dockerfile: go build has no -o: where the binary goes is not said")
	}

	final := stages[len(stages)-1]
	if final.image != "scratch" && !strings.HasPrefix(final.image, "gcr.io/distroless/static") {
		ps.add("Dockerfile: the final image %s is not distroless static or scratch", final.image)
	}
	var bin, user, entry string
	certs := strings.HasPrefix(final.image, "gcr.io/distroless/")
	for _, in := range final.body {
		switch in.cmd {
		case "COPY":
			f := strings.Fields(in.args)
			from := ""
			var paths []string
			for _, a := range f {
				if v, ok := strings.CutPrefix(a, "--from="); ok {
					from = v
				} else if !strings.HasPrefix(a, "--") {
					paths = append(paths, a)
				}
			}
			if len(paths) == 2 && from == build.name && paths[0] == out {
				bin = paths[1]
				if strings.HasSuffix(bin, "/") {
					bin += path.Base(out)
				}
			}
			if strings.Contains(in.args, "ca-certificates") {
				certs = true
			}
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			var e []string
			if err := json.Unmarshal([]byte(in.args), &e); err != nil || len(e) == 0 {
				ps.add("Dockerfile: ENTRYPOINT %s is not in exec form [\"/path\"]: a shell form needs a shell distroless lacks, and drops signals", in.args)
			} else {
				entry = e[0]
			}
		}
	}
	switch {
	case bin == "":
		ps.add("Dockerfile: the final stage copies no %s from the build stage %q", out, build.name)
	case entry != bin:
		ps.add("Dockerfile: ENTRYPOINT runs %q, but the binary is copied to %q", entry, bin)
	}
	if !certs {
		ps.add("Dockerfile: a scratch image without CA certificates cannot check a broker's TLS certificate")
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		ps.add("Dockerfile: USER %q: run as a numeric, non-root UID (Kubernetes' runAsNonRoot cannot check a name)", user)
	}
	return ps
}

// checkDockerignore checks that the build context keeps what go build
// needs: go.mod, go.sum and every file of the module's packages that
// ./cmd/segmerge is built from.
func checkDockerignore(data string) problems {
	var ps problems
	var patterns []*regexp.Regexp
	for _, line := range strings.Split(data, "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if strings.HasPrefix(p, "!") {
			ps.add("Dockerfile.dockerignore: exceptions (%s) are not modelled by this check", p)
			continue
		}
		patterns = append(patterns, ignorePattern(path.Clean(strings.TrimPrefix(p, "/"))))
	}
	files := []string{"go.mod", "go.sum"}
	out, err := exec.Command("go", "list", "-C", root, "-deps",
		"-f", `{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		"./cmd/segmerge").Output()
	if err != nil {
		ps.add("go list ./cmd/segmerge: %v", err)
		return ps
	}
	for _, f := range strings.Fields(string(out)) {
		files = append(files, strings.TrimPrefix(f, root+"/"))
	}
	if len(files) < 10 {
		ps.add("go list named %d files of ./cmd/segmerge: the check read nothing like the build", len(files))
	}
	for _, f := range files {
		for _, p := range patterns {
			if ignored(p, f) {
				ps.add("Dockerfile.dockerignore: %s leaves %s out of the build context", p, f)
			}
		}
	}
	return ps
}

// ignorePattern turns a .dockerignore pattern into a regexp over paths
// from the context's root: * and ? stay within a directory, ** spans any.
func ignorePattern(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case p[i] == '*':
			b.WriteString("[^/]*")
		case p[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// ignored reports whether a pattern leaves a file out: it matches the
// file or a directory above it.
func ignored(p *regexp.Regexp, file string) bool {
	for f := file; f != "." && f != "/"; f = path.Dir(f) {
		if p.MatchString(f) {
			return true
		}
	}
	return false
}

func TestDockerfile(t *testing.T) {
	report(t, checkDockerfile(string(readFile(t, "deploy/Dockerfile"))))
	report(t, checkDockerignore(string(readFile(t, "deploy/Dockerfile.dockerignore"))))
}
