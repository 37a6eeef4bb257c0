package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/segmerge/segmerge/internal/setting"
)

// logFlags are the flags every command takes for its log.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) add(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&l.level, "log-level", "info", "log lines at this level and above: debug, info, warn or error (debug adds the Kafka client's own)")
	f.StringVar(&l.format, "log-format", "text", "text, or json (one object a line: time, level, msg, ...)")
}

// parse checks the flags.
func (l *logFlags) parse() (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil || strings.ContainsAny(l.level, "+-") {
		return 0, usage(fmt.Errorf("invalid --log-level %q: must be debug, info, warn or error", l.level))
	}
	if l.format != "text" && l.format != "json" {
		return 0, usage(fmt.Errorf("invalid --log-format %q: must be text or json", l.format))
	}
	return level, nil
}

// repeatEvery is how often one kind of line (see lineKey) is printed at
// most; the ones held back in between are counted on the next.
const repeatEvery = 5 * time.Second

// maxAttr bounds a logged string: a record's claims never make a long line.
const maxAttr = 1 << 10

// logHandler is the command line's slog.Handler: it renders the Config
// fields a library names ({Memory}) as the flags of the command that runs,
// cuts long strings, and prints a line of one kind at most every
// repeatEvery, counting the rest. It wraps a text or JSON handler.
type logHandler struct {
	inner slog.Handler
	name  func(field string) string
	state *dedup
	attrs []slog.Attr // WithAttrs', for the line's kind
}

type dedup struct {
	mu    sync.Mutex
	lines map[string]*seenLine
	now   func() time.Time
}

type seenLine struct {
	last time.Time // when one was printed
	held int       // held back since
}

func newLogHandler(inner slog.Handler, name func(string) string) *logHandler {
	return &logHandler{inner: inner, name: name, state: &dedup{lines: map[string]*seenLine{}, now: time.Now}}
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{inner: h.inner.WithAttrs(as), name: h.name, state: h.state, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], as...)}
}

func (h *logHandler) WithGroup(g string) slog.Handler {
	return &logHandler{inner: h.inner.WithGroup(g), name: h.name, state: h.state, attrs: h.attrs}
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	held, ok := h.state.admit(lineKey(r, h.attrs))
	if !ok {
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, setting.Names(r.Message, h.name), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.tidy(a))
		return true
	})
	if held > 0 {
		out.AddAttrs(slog.Int("repeated", held))
	}
	return h.inner.Handle(ctx, out)
}

// tidy renders field names in a string attribute and cuts it to maxAttr.
func (h *logHandler) tidy(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	var s string
	switch v.Kind() {
	case slog.KindString:
		s = v.String()
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			s = err.Error()
		} else {
			return a
		}
	default:
		return a
	}
	s = setting.Names(s, h.name)
	if len(s) > maxAttr {
		s = s[:maxAttr] + fmt.Sprintf("... (%d bytes more)", len(s)-maxAttr)
	}
	return slog.String(a.Key, s)
}

// lineKey is a line's kind: its level, message, and the values of the
// attributes that say what kind of trouble it is (a reason, a topic, an
// error's text up to its first colon), not where.
func lineKey(r slog.Record, with []slog.Attr) string {
	var b strings.Builder
	b.WriteString(r.Level.String())
	b.WriteByte('|')
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		switch a.Key {
		case "reason", "topic", "group":
			b.WriteByte('|')
			b.WriteString(a.Value.String())
		case "err":
			s := a.Value.String()
			if i := strings.IndexByte(s, ':'); i >= 0 {
				s = s[:i]
			}
			b.WriteByte('|')
			b.WriteString(s)
		}
		return true
	}
	for _, a := range with {
		add(a)
	}
	r.Attrs(add)
	return b.String()
}

// admit reports whether a line of kind key is printed now, and how many of
// its kind were held back since the last one printed.
func (d *dedup) admit(key string) (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	s := d.lines[key]
	if s == nil {
		if len(d.lines) > 10000 { // kinds come from a small set; bound it anyway
			clear(d.lines)
		}
		d.lines[key] = &seenLine{last: now}
		return 0, true
	}
	if now.Sub(s.last) < repeatEvery {
		s.held++
		return 0, false
	}
	held := s.held
	s.last, s.held = now, 0
	return held, true
}

// console is stderr shared by log lines and a progress line: a log line
// first clears the progress line, which the next tick draws again.
type console struct {
	mu    sync.Mutex
	w     io.Writer
	shown bool // a progress line is on screen
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shown {
		io.WriteString(c.w, "\r\033[K")
		c.shown = false
	}
	return c.w.Write(p)
}

// status writes s as the progress line, in place of the last one.
func (c *console) status(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	io.WriteString(c.w, "\r\033[K"+s)
	c.shown = true
}

// clearStatus erases the progress line, if one is shown.
func (c *console) clearStatus() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shown {
		io.WriteString(c.w, "\r\033[K")
		c.shown = false
	}
}

// kgoLog is the option that routes the Kafka client's own log through the
// command's: at warn and above, or everything at --log-level debug.
func (e *env) kgoLog() kgo.Opt {
	lg := e.logger()
	min := slog.LevelWarn
	if level, _ := e.log.parse(); level <= slog.LevelDebug {
		min = slog.LevelDebug
	}
	return kgo.WithLogger(kslog.New(slog.New(atLeast{lg.Handler(), min}).With("client", "franz-go")))
}

// atLeast passes on records of level min and above.
type atLeast struct {
	slog.Handler
	min slog.Level
}

func (h atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h atLeast) WithAttrs(as []slog.Attr) slog.Handler {
	return atLeast{h.Handler.WithAttrs(as), h.min}
}
func (h atLeast) WithGroup(g string) slog.Handler { return atLeast{h.Handler.WithGroup(g), h.min} }
