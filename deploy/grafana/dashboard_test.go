package grafana_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/segmerge/segmerge/deploy/grafana"
)

// exported is every metric name segmerge can serve on --metrics-addr: its
// own, and those kprom v1.5.0 fills under segmerge_kafka with no options.
// kprom also registers histograms and fetch/produce batch, record and
// compressed-byte counters, but observes them only when an option asks, so
// without one they never reach a scrape.
var exported = map[string]bool{
	"segmerge_records_consumed_total": true,
	"segmerge_batches_merged_total":   true,
	"segmerge_integers_merged_total":  true,
	"segmerge_batches_produced_total": true,
	"segmerge_records_produced_total": true,
	"segmerge_dead_letters_total":     true,
	"segmerge_consumer_lag_records":   true,
	"segmerge_batch_latency_seconds":  true,
	"segmerge_held_bytes":             true,
	"segmerge_paused_partitions":      true,
	"segmerge_pending_batches":        true,
	"segmerge_transactions_total":     true,
	"segmerge_rebalances_total":       true,
	"segmerge_build_info":             true,

	"segmerge_kafka_connects_total":                 true,
	"segmerge_kafka_connect_errors_total":           true,
	"segmerge_kafka_disconnects_total":              true,
	"segmerge_kafka_write_bytes_total":              true,
	"segmerge_kafka_write_errors_total":             true,
	"segmerge_kafka_read_bytes_total":               true,
	"segmerge_kafka_read_errors_total":              true,
	"segmerge_kafka_produce_bytes_total":            true,
	"segmerge_kafka_fetch_bytes_total":              true,
	"segmerge_kafka_buffered_produce_records_total": true,
	"segmerge_kafka_buffered_produce_bytes":         true,
	"segmerge_kafka_buffered_fetch_records_total":   true,
	"segmerge_kafka_buffered_fetch_bytes":           true,
}

// maxKafka bounds the franz-go client metrics the dashboard leans on: it
// is a dashboard of segmerge, not of the client.
const maxKafka = 2

// dashboard is what the tests read of the dashboard.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func decode(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(grafana.JSON, &d); err != nil {
		t.Fatalf("decode segmerge.json: %v", err)
	}
	return d
}

// flatten returns every panel, rows' nested ones included.
func flatten(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

func TestDashboard(t *testing.T) {
	d := decode(t)
	if d.Title == "" {
		t.Error("no title")
	}
	// Grafana refuses a uid longer than 40 characters.
	if d.UID == "" || len(d.UID) > 40 {
		t.Errorf("uid %q: want 1 to 40 characters", d.UID)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d: want >= 39", d.SchemaVersion)
	}
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}

	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "datasource" && string(v.Query) != `"prometheus"` {
			t.Errorf("variable %s: query %s, want \"prometheus\"", v.Name, v.Query)
		}
		if v.Type == "query" && !strings.HasPrefix(v.Definition, "label_values(segmerge_build_info") {
			t.Errorf("variable %s: definition %q, want label_values over segmerge_build_info", v.Name, v.Definition)
		}
	}
	for name, typ := range map[string]string{"datasource": "datasource", "job": "query", "instance": "query"} {
		if vars[name] != typ {
			t.Errorf("variable %s: type %q, want %q", name, vars[name], typ)
		}
	}
}

func TestPanels(t *testing.T) {
	ids := map[int]string{}
	for _, p := range flatten(decode(t).Panels) {
		t.Run(p.Title, func(t *testing.T) {
			if p.Title == "" {
				t.Errorf("panel %d: no title", p.ID)
			}
			if other, ok := ids[p.ID]; ok || p.ID == 0 {
				t.Errorf("id %d: zero or also %q's", p.ID, other)
			}
			ids[p.ID] = p.Title
			if g := p.GridPos; g == nil || g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("gridPos %+v: want within the 24 columns", g)
			}
			if p.Type == "row" {
				return
			}
			if len(p.Targets) == 0 {
				t.Fatal("no targets")
			}
			refs := map[string]bool{}
			for i, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("target %d: empty expr", i)
				}
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("target %d: refId %q empty or repeated", i, tg.RefID)
				}
				refs[tg.RefID] = true
			}
		})
	}
}

// TestDatasources checks that every datasource reference, wherever it is
// in the model, is the ${datasource} variable, so that the dashboard
// imports into any Grafana whatever its Prometheus is called.
func TestDatasources(t *testing.T) {
	var doc any
	if err := json.Unmarshal(grafana.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if k == "datasource" {
					n++
					ok := c == "${datasource}"
					if m, isMap := c.(map[string]any); isMap {
						ok = m["uid"] == "${datasource}" && m["type"] == "prometheus"
					}
					if !ok {
						t.Errorf("%s.datasource = %v, want ${datasource}", path, c)
					}
				}
				walk(path+"."+k, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		}
	}
	walk("$", doc)
	if n == 0 {
		t.Error("no datasource references")
	}
}

// selector matches a metric and its label matchers, if any.
var selector = regexp.MustCompile(`(segmerge_[a-z0-9_]+)(\{[^}]*\})?`)

// TestSelectors checks that every panel query keeps to the instances
// the job and instance variables pick.
func TestSelectors(t *testing.T) {
	for _, p := range flatten(decode(t).Panels) {
		for _, tg := range p.Targets {
			for _, m := range selector.FindAllStringSubmatch(tg.Expr, -1) {
				if !strings.Contains(m[2], `job=~"$job"`) || !strings.Contains(m[2], `instance=~"$instance"`) {
					t.Errorf("%s: %s%s: want {job=~\"$job\", instance=~\"$instance\"}", p.Title, m[1], m[2])
				}
			}
		}
	}
}

func TestMetrics(t *testing.T) {
	names, err := grafana.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no metrics")
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("%q: want sorted, each once", names)
	}
	for _, want := range []string{
		"segmerge_batches_merged_total",
		"segmerge_consumer_lag_records",
		"segmerge_batch_latency_seconds",
		"segmerge_build_info",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("%s missing from %q", want, names)
		}
	}
	kafka := 0
	for _, n := range names {
		if !exported[n] {
			t.Errorf("%s: segmerge does not export it", n)
		}
		if strings.HasPrefix(n, "segmerge_kafka_") {
			kafka++
		}
	}
	if kafka > maxKafka {
		t.Errorf("%d franz-go client metrics, want at most %d", kafka, maxKafka)
	}
}

func ExampleMetrics() {
	names, err := grafana.Metrics()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range names {
		fmt.Println(n)
	}
	// Output:
	// segmerge_batch_latency_seconds
	// segmerge_batches_merged_total
	// segmerge_batches_produced_total
	// segmerge_build_info
	// segmerge_consumer_lag_records
	// segmerge_dead_letters_total
	// segmerge_held_bytes
	// segmerge_integers_merged_total
	// segmerge_kafka_read_bytes_total
	// segmerge_kafka_write_bytes_total
	// segmerge_paused_partitions
	// segmerge_pending_batches
	// segmerge_rebalances_total
	// segmerge_records_consumed_total
	// segmerge_records_produced_total
	// segmerge_transactions_total
}
