package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion describes the binary: segmerge's version (the module's, or
// "devel" when built from a checkout), the commit it was built from, and
// the Go and franz-go versions, from the build information Go embeds.
type buildVersion struct {
	Version, Commit, Go, FranzGo string
	Modified                     bool
}

// version and commit, when set at link time (go build -ldflags "-X
// main.version=v1.2.0 -X main.commit=$(git rev-parse HEAD)"), say what the
// build information does not: a release's name, or the commit of a build
// made with -buildvcs=false or outside the checkout (a container build).
var version, commit string

func readVersion() (v buildVersion) {
	v = buildVersion{Version: "devel", Commit: "unknown", Go: runtime.Version(), FranzGo: "unknown"}
	defer func() {
		if version != "" {
			v.Version = version
		}
		if commit != "" {
			v.Commit = commit
		}
	}()
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if mv := info.Main.Version; mv != "" && mv != "(devel)" {
		v.Version = mv
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range info.Deps {
		if d.Path == "github.com/twmb/franz-go" {
			v.FranzGo = d.Version
		}
	}
	return v
}

func (v buildVersion) String() string {
	commit := v.Commit
	if v.Modified {
		commit += " (modified)"
	}
	return fmt.Sprintf("segmerge %s, commit %s, %s, franz-go %s", v.Version, commit, v.Go, v.FranzGo)
}

func newVersion(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print segmerge's version, commit, and the Go and franz-go versions",
		Example: "  segmerge version\n  segmerge --version",
		Args:    cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(e.stdout, readVersion())
		},
	}
}
