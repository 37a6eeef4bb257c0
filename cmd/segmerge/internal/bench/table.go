package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the report for people: one row per workload and mode,
// then the targets, met or not.
func WriteTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tmode\tprocs\tbatches\tintegers\tbatches/s\tints/s\tMB/s\tpeak RSS\tceiling MB/s\tpipeline/ceiling\tverified\t")
	for _, r := range rep.Rows {
		verified := "yes"
		if !r.Verified {
			verified = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%.1f\t%s\t%.1f\t%.2f\t%s\t\n",
			r.Workload, r.Mode, max(r.Processes, 1), r.Batches, r.Integers, si(r.BatchesPerSec), si(r.IntsPerSec),
			r.MBPerSec, mib(r.PeakRSS), r.CeilingMBPerSec, r.Ratio, verified)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Targets) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\ntargets:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range rep.Targets {
		met := "met"
		if !c.Met {
			met = "MISSED"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Workload, c.Mode, c.Target, c.Shown, met)
	}
	return tw.Flush()
}

// WriteJSON prints the report as one indented JSON object.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// si renders v with a k, M or G suffix and about three significant digits:
// 27.1M, 912k, 4.20.
func si(v float64) string {
	suffix := ""
	for _, u := range []struct {
		scale float64
		name  string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= u.scale {
			v, suffix = v/u.scale, u.name
			break
		}
	}
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f%s", v, suffix)
	case v >= 10:
		return fmt.Sprintf("%.1f%s", v, suffix)
	}
	return fmt.Sprintf("%.2f%s", v, suffix)
}

// mib renders a byte count in MiB.
func mib(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
