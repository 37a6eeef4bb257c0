package main

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/segmerge/segmerge/metrics"
)

// parseBytes reads a size: 64MiB, 1GiB, 512KiB, 100MB, 64mb, 1048576.
// Units are binary with an i or a bare K, M, G (64M is 64MiB), decimal
// without (100MB is 10^8 bytes); case does not matter.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
	}
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range units {
		if strings.HasSuffix(lower, u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || n < 0 || n*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("%q is not a size (examples: 64MiB, 1GiB, 500MB, 1048576)", s)
	}
	return int64(n * float64(mult)), nil
}

// logger is the run's log on stderr, made once: at --log-level (at least
// warn with -q), as text or JSON (--log-format), through the command
// line's handler (see logHandler).
func (e *env) logger() *slog.Logger {
	e.lgMu.Lock()
	defer e.lgMu.Unlock()
	if e.lg != nil {
		return e.lg
	}
	level, _ := e.log.parse() // checked before the command ran
	if e.quiet {
		level = max(level, slog.LevelWarn)
	}
	opts := &slog.HandlerOptions{Level: level}
	var inner slog.Handler = slog.NewTextHandler(&e.con, opts)
	if e.log.format == "json" {
		inner = slog.NewJSONHandler(&e.con, opts)
	}
	name := func(field string) string { return field }
	if e.cmd != nil {
		name = func(field string) string { return flagOf(e.cmd, field) }
	}
	e.lg = slog.New(newLogHandler(inner, name))
	return e.lg
}

// progress starts the run's progress report (see startProgress): a line
// on a terminal unless quiet or noLine, else a log line every interval.
func (e *env) progress(c *metrics.Run, verb string, interval time.Duration, noLine bool) *progress {
	if e.quiet {
		return nil
	}
	if terminal(e.stderr) {
		if noLine {
			return nil
		}
		return startProgress(c, verb, &e.con, nil, 0)
	}
	return startProgress(c, verb, nil, e.logger(), interval)
}

// terminal reports whether w is a terminal.
func terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// say writes a line for people on stderr, as fmt.Fprintf does, or with
// --log-format json an info log line: every line on stderr is then JSON.
func (e *env) say(format string, args ...any) {
	if e.log.format == "json" {
		e.logger().Info(strings.TrimSuffix(fmt.Sprintf(format, args...), "\n"))
		return
	}
	fmt.Fprintf(&e.con, format, args...)
}
