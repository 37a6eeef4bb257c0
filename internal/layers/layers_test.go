// Package layers checks that segmerge's packages are layers: imports go one
// way, down, and only the packages that talk to brokers import franz-go.
package layers

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/segmerge/segmerge/"

// pkg is what go list says of a package.
type pkg struct {
	ImportPath string
	Imports    []string
}

func TestImportsGoDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "github.com/segmerge/segmerge/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// Below the stages: none may import franz-go, a stage, or the
	// command line.
	kafkaFree := map[string]bool{"wire": true, "merge": true, "assemble": true, "gen": true, "sink": true, "emit": true,
		"metrics": true, "internal/budget": true, "internal/setting": true, "consumer/internal/ledger": true}
	stages := map[string]bool{"consumer": true, "repartition": true, "producer": true, "verify": true, "broker": true}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		seen++
		name := strings.TrimPrefix(p.ImportPath, module)
		for _, imp := range p.Imports {
			in := strings.TrimPrefix(imp, module)
			switch {
			case kafkaFree[name] && strings.HasPrefix(imp, "github.com/twmb/franz-go"):
				t.Errorf("%s imports %s: it must know nothing of Kafka", name, imp)
			case kafkaFree[name] && stages[in]:
				t.Errorf("%s imports the stage %s: imports go down", name, in)
			case !strings.HasPrefix(name, "cmd/") && strings.HasPrefix(in, "cmd/"):
				t.Errorf("%s imports the command line (%s)", name, in)
			case stages[name] && stages[in]:
				t.Errorf("the stage %s imports the stage %s: stages share code through lower packages", name, in)
			}
		}
	}
	if seen < 15 {
		t.Fatalf("go list named %d packages: the test read nothing like the tree", seen)
	}
}
