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
	var batches, streams []Result
	for _, r := range rep.Rows {
		if r.RecordsPerSec > 0 {
			streams = append(streams, r)
		} else {
			batches = append(batches, r)
		}
	}
	sep := false // a table was printed: the next needs a blank line first
	if len(batches) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "workload\tmode\tprocs\tbatches\tintegers\tbatches/s\tints/s\tMB/s\tpeak RSS\tceiling MB/s\tpipeline/ceiling\tkcat MB/s\tpipeline/kcat\tverified\t")
		for _, r := range batches {
			kcatMB, overKcat := optional(r.KcatMBPerSec, "%.1f"), optional(r.OverKcat, "%.2f")
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%.1f\t%s\t%.1f\t%.2f\t%s\t%s\t%s\t\n",
				r.Workload, r.Mode, max(r.Processes, 1), r.Batches, r.Integers, si(r.BatchesPerSec), si(r.IntsPerSec),
				r.MBPerSec, mib(r.PeakRSS), r.CeilingMBPerSec, r.Ratio, kcatMB, overKcat, yesNo(r.Verified))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		// Where the time and the CPU went, per row, and the baseline.
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "workload\tmode\tprocs\tseconds\tjoin s\tsteady ints/s\tCPU s\tCPU ns/int\tceiling CPU s\tbroker CPU s\toriginal s\tpipeline/original\t")
		for _, r := range batches {
			origS, overOrig := optional(r.OriginalSeconds, "%.2f"), optional(r.OverOriginal, "%.1f")
			brokerCPU := optional(r.BrokerCPUSeconds, "%.2f")
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.2f\t%s\t%.2f\t%.1f\t%.2f\t%s\t%s\t%s\t\n",
				r.Workload, r.Mode, max(r.Processes, 1), r.Seconds, r.JoinSeconds, si(r.SteadyIntsPerSec), r.CPUSeconds, r.CPUNsPerInt, r.CeilingCPUSeconds, brokerCPU, origS, overOrig)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		sep = true
	}
	if len(streams) > 0 {
		if sep {
			fmt.Fprintln(w)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "workload\tkey\trecords\trecords/s\tMB/s\tpeak RSS\tceiling MB/s\tstream/ceiling\tkcat MB/s\tstream/kcat\tin order\t")
		for _, r := range streams {
			kcatMB, overKcat := optional(r.KcatMBPerSec, "%.1f"), optional(r.OverKcat, "%.2f")
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.1f\t%s\t%.1f\t%.2f\t%s\t%s\t%s\t\n",
				r.Workload, r.Mode, r.Records, si(r.RecordsPerSec), r.MBPerSec, mib(r.PeakRSS), r.CeilingMBPerSec, r.Ratio, kcatMB, overKcat, yesNo(r.Verified))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		sep = true
	}
	if len(rep.Latency) > 0 {
		if sep {
			fmt.Fprintln(w)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "workload\tmode\trate\tachieved\tsink\tcommit\tbatches\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tverified\t")
		for _, r := range rep.Latency {
			fmt.Fprintf(tw, "%s\t%s\t%g\t%.0f\t%s\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t\n",
				r.Workload, r.Mode, r.Rate, r.Achieved, r.Sink, r.CommitInterval, r.Batches, r.P50, r.P99, r.P999, r.Max, yesNo(r.Verified))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(rep.Targets) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\ntargets:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range rep.Targets {
		met := "met"
		if !c.Met {
			met = "MISSED"
		}
		mode := c.Mode
		if c.Processes > 0 {
			mode += fmt.Sprintf(", %d processes", c.Processes)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Workload, mode, c.Target, c.Shown, met)
	}
	return tw.Flush()
}

// WriteJSON prints the report as one indented JSON object.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// optional formats a figure a row may lack (a yardstick that did not
// run): "-" for 0.
func optional(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
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
