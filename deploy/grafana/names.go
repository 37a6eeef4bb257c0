// Package grafana holds segmerge's Grafana dashboard, segmerge.json, and
// reads the names of the metrics its queries use, so that a test can hold
// them against what a running segmerge serves on --metrics-addr. It knows
// nothing of how those metrics are made.
package grafana

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// JSON is the dashboard, segmerge.json, as Grafana imports it.
//
//go:embed segmerge.json
var JSON []byte

// metricName matches a segmerge metric name in PromQL. Label names and
// values never start with segmerge_, so every match is a metric.
var metricName = regexp.MustCompile(`segmerge_[a-z0-9_]+`)

// latencySeries matches the series of the one histogram, whose family name
// a scrape shows without the suffix.
var latencySeries = regexp.MustCompile(`^(segmerge_batch_latency_seconds)_(bucket|sum|count)$`)

// Metrics returns the names of the metrics that the dashboard's queries
// use, sorted and each once: those in every panel's targets (rows' nested
// panels too) and in the template variables' queries. A histogram is named
// by its family, segmerge_batch_latency_seconds, not by its _bucket, _sum
// or _count series, as a scrape of /metrics names it.
func Metrics() ([]string, error) {
	var d dashboard
	if err := json.Unmarshal(JSON, &d); err != nil {
		return nil, fmt.Errorf("grafana: decode segmerge.json: %w", err)
	}
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				exprs = append(exprs, t.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		q, err := v.query()
		if err != nil {
			return nil, fmt.Errorf("grafana: decode segmerge.json: variable %q: %w", v.Name, err)
		}
		exprs = append(exprs, q)
	}

	var names []string
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			names = append(names, latencySeries.ReplaceAllString(n, "$1"))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// dashboard is the part of Grafana's dashboard model that Metrics reads.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a row's, when collapsed
}

// variable is a template variable. A query variable's query is a string in
// older dashboards and an object holding the string in newer ones.
type variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

// query returns a query variable's PromQL, or "" for other kinds.
func (v variable) query() (string, error) {
	if v.Type != "query" || len(v.Query) == 0 {
		return "", nil
	}
	var s string
	if strings.HasPrefix(string(v.Query), `"`) {
		err := json.Unmarshal(v.Query, &s)
		return s, err
	}
	var q struct {
		Query string `json:"query"`
	}
	err := json.Unmarshal(v.Query, &q)
	return q.Query, err
}
