package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/segmerge/segmerge/broker"
)

func newBroker(e *env) *cobra.Command {
	var listen, dataDir, logLevel string
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka cluster (3 brokers, persisted to --data-dir)",
		Long: `Run segmerge's embedded cluster: franz-go's kfake, which speaks the real
Kafka protocol, one broker per --listen address, with topics, records and
committed offsets persisted under --data-dir so that a restart keeps them.
One broker process runs on a data dir at a time; the dir is made 0700 and
everything the broker writes in it 0600.
After an unclean stop (a crash, SIGKILL) it first closes the transactions the
crash left open, with an ABORT marker, as kafka-transactions.sh abort would.

It is one process with no replication, for development and demos. In
production point produce and consume at a real cluster with -b.`,
		Example: `  segmerge broker
  segmerge broker --listen 127.0.0.1:19091,127.0.0.1:19092,127.0.0.1:19093 --data-dir /tmp/kafka
  SEGMERGE_BROKERS=127.0.0.1:19091 segmerge produce --batches 10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var addrs []string
			for _, a := range strings.Split(listen, ",") {
				if a = strings.TrimSpace(a); a != "" {
					addrs = append(addrs, a)
				}
			}
			if len(addrs) == 0 {
				return usage(fmt.Errorf("invalid --listen %q: give host:port addresses", listen))
			}
			level, err := broker.ParseLogLevel(logLevel)
			if err != nil {
				return usage(fmt.Errorf("invalid --log-level: %w", err))
			}
			cfg := broker.Config{Listen: addrs, DataDir: dataDir, Log: e.stderr, LogLevel: level}
			if err := cfg.Validate(); err != nil {
				return usage(err)
			}
			privateFiles() // the data dir holds every record and committed offset
			c, err := broker.Start(cfg)
			if err != nil {
				return err
			}
			if r := c.Recovery(); r.Unclean {
				fmt.Fprintf(e.stderr, "segmerge broker: the last run on %s did not stop cleanly: read %d records, closed %d transactions left open with an ABORT marker (%v)\n",
					dataDir, r.Records, r.Aborted, r.Took.Round(time.Millisecond))
			}
			fmt.Fprintf(e.stdout, "segmerge broker: %d brokers listening, data in %s\n", len(c.Addrs()), dataDir)
			fmt.Fprintf(e.stdout, "bootstrap: %s\n", c.Bootstrap())
			<-cmd.Context().Done()
			c.Close()
			fmt.Fprintln(e.stdout, "segmerge broker: stopped, state saved")
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", strings.Join(broker.DefaultListen, ","), "comma-separated host:port per broker (port 0 picks a free one)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "./data/broker", "directory the cluster's state is persisted in")
	cmd.Flags().StringVar(&logLevel, "log-level", "none", "kfake's own log on stderr: none, error, warn, info or debug")
	return cmd
}
