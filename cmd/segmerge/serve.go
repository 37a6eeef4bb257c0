package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/segmerge/segmerge/metrics"
)

// metricsFlags is --metrics-addr, on the commands that run for long.
type metricsFlags struct{ addr string }

func (m *metricsFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&m.addr, "metrics-addr", "", "serve Prometheus /metrics, /healthz and /readyz on HOST:PORT (e.g. 127.0.0.1:9464; :9464 for every interface)")
}

// endpoint is a running --metrics-addr server.
type endpoint struct {
	srv    *http.Server
	client kgo.Opt // the hooks that export the Kafka client's own metrics
	addr   string  // where it listens
}

// serve starts the endpoint --metrics-addr asks for, or returns nil:
// /metrics with run's figures as stage (and the Go runtime's, the
// process's, and franz-go's through kprom for the client given the
// endpoint's client option), /healthz (200 while the run's loop turns)
// and /readyz (200 while the run is a member of its group, polled within
// session, and its brokers answer; 503 saying why otherwise). stop ends
// it.
func (m *metricsFlags) serve(e *env, run *metrics.Run, stage metrics.Stage, session time.Duration) (*endpoint, error) {
	if m.addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return nil, usage(fmt.Errorf("invalid --metrics-addr %q: %w", m.addr, err))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.Collector(run, stage, readVersion().Version),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	kp := kprom.NewMetrics("segmerge_kafka", kprom.Registerer(reg))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		h := run.Health()
		// A loop turns at least every quarter second; a minute without
		// one is a process stuck, not a slow one.
		if h.Looped.IsZero() || time.Since(h.Looped) < time.Minute {
			fmt.Fprintln(w, "ok")
			return
		}
		http.Error(w, fmt.Sprintf("the run's loop has not turned for %v", time.Since(h.Looped).Round(time.Second)), http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := notReady(run.Health(), stage, session); why != "" {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		h := run.Health()
		fmt.Fprintf(w, "ready: a member of its group, holding %d partitions\n", h.Partitions)
	})
	ep := &endpoint{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, client: kgo.WithHooks(kp), addr: ln.Addr().String()}
	log := e.logger()
	log.Info("serving metrics", "url", "http://"+ep.addr+"/metrics")
	go func() {
		if err := ep.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("the --metrics-addr endpoint stopped", "addr", ep.addr, "err", err)
		}
	}()
	return ep, nil
}

// notReady says why a run is not ready, or "".
func notReady(h metrics.Health, stage metrics.Stage, session time.Duration) string {
	switch {
	case stage != metrics.Consume:
		return ""
	case !h.Joined:
		return "not yet a member of its group"
	case h.Waiting != "":
		return h.Waiting
	case h.Unanswered != "":
		return h.Unanswered
	case h.Polled.IsZero() || time.Since(h.Polled) > session:
		return fmt.Sprintf("has not polled for %v, more than the session timeout %v", time.Since(h.Polled).Round(time.Second), session)
	}
	return ""
}

// stop ends the endpoint, if one runs.
func (ep *endpoint) stop() {
	if ep == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ep.srv.Shutdown(ctx)
}

// watch runs run with a new metrics.Run, served on --metrics-addr when it
// is given and counted on the progress line (see env.progress; verb,
// every and noLine are its). run gets the metrics to count into and the
// client options that export the Kafka client's own. The progress line is
// stopped and the endpoint shut when watch returns, so a summary printed
// after it stands on a line of its own.
func (m *metricsFlags) watch(e *env, stage metrics.Stage, session time.Duration, verb string, every time.Duration, noLine bool,
	run func(*metrics.Run, []kgo.Opt) error) error {
	c := new(metrics.Run)
	ep, err := m.serve(e, c, stage, session)
	if err != nil {
		return err
	}
	defer ep.stop()
	line := e.progress(c, verb, every, noLine)
	defer line.Stop()
	return run(c, ep.clientOpts())
}

// clientOpts is the option that exports a client's metrics, if any.
func (ep *endpoint) clientOpts() []kgo.Opt {
	if ep == nil {
		return nil
	}
	return []kgo.Opt{ep.client}
}
