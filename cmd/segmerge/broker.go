package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/metrics"
)

// brokerFlags are the flags of `segmerge broker`.
type brokerFlags struct {
	listen, advertise, dataDir, logLevel string
	tlsCert, tlsKey, saslFile            string
	sasl                                 []string
	tls, acls, insecure                  bool
	metrics                              metricsFlags
}

func newBroker(e *env) *cobra.Command {
	var f brokerFlags
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

It listens on loopback unless told otherwise. A --listen address that is not
loopback serves the network, and needs --sasl users (or --insecure to serve
it open, or to take PLAIN passwords without --tls). A wildcard one (0.0.0.0,
::) binds every interface and needs --advertise: the name or address clients
reach this machine by, which the brokers advertise in place of the address
they are bound to.

With --tls every listener serves TLS, with the certificate of --tls-cert or
one the broker makes for the listen and advertised hosts (and localhost,
127.0.0.1 and ::1), signed by a CA it makes: both are kept under
<data-dir>/tls and reused by later starts, and clients trust its ca.pem.

With --sasl, clients authenticate as one of the users given (PLAIN,
SCRAM-SHA-256 or SCRAM-SHA-512); the first is the superuser. The users are
those given at every start. A password on the command line is visible to
other local users (ps): --sasl-file reads the users from a file instead, one
MECHANISM:USER:PASSWORD a line. With --acls, every other user may do only
what an ACL allows: the superuser grants them, with kafka-acls.sh or any
Kafka admin client, and the data dir keeps the grants.

After the bootstrap line, stdout says the client settings to use, as
librdkafka properties (-X for kcat): security.protocol, sasl.mechanism and
sasl.username (the first --sasl user's; never a password), ssl.ca.location
(the CA the broker made).

It is one process with no replication, for development and demos. In
production point produce and consume at a real cluster with -b.`,
		Example: `  segmerge broker
  segmerge broker --listen 127.0.0.1:19091,127.0.0.1:19092,127.0.0.1:19093 --data-dir /tmp/kafka
  SEGMERGE_BROKERS=127.0.0.1:19091 segmerge produce --batches 10

  # TLS, with a certificate and CA made and kept in the data dir
  segmerge broker --tls
  kcat -b 127.0.0.1:9091 -X security.protocol=SSL -X ssl.ca.location=data/broker/tls/ca.pem -L

  # SCRAM over TLS on loopback, passwords on the command line
  segmerge broker --tls --sasl SCRAM-SHA-512:admin:admin-secret
  kcat -b 127.0.0.1:9091 -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 \
    -X sasl.username=admin -X sasl.password=admin-secret -X ssl.ca.location=data/broker/tls/ca.pem -L

  # with ACLs: users.txt holds SCRAM-SHA-512:admin:..., then SCRAM-SHA-512:alice:...;
  # admin is the superuser, alice needs grants
  segmerge broker --tls --acls --sasl-file users.txt
  # kcat reads alice's settings (the ones printed, and her password) from alice.conf
  kcat -b 127.0.0.1:9091 -F alice.conf -L
  # admin grants alice what produce and consume need; admin.properties holds
  # security.protocol=SASL_SSL, sasl.mechanism=SCRAM-SHA-512, sasl.jaas.config
  # with admin's password, ssl.truststore.type=PEM, ssl.truststore.location=<ca.pem>
  kafka-acls.sh --bootstrap-server 127.0.0.1:9091 --command-config admin.properties --add \
    --allow-principal User:alice --operation All --topic '*' --group '*' --transactional-id '*'

  # on the network: every interface, advertised by name, SCRAM over TLS
  segmerge broker --listen 0.0.0.0:9091,0.0.0.0:9092,0.0.0.0:9093 --advertise kafka1.example.com \
    --tls --sasl-file users.txt`,
		Annotations: map[string]string{"field:TLSCert": "--tls-cert", "field:TLSKey": "--tls-key"},
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(e.stderr)
			if err != nil {
				return err
			}
			if f.saslFile != "" {
				cmd.Annotations["field:SASL"] = "--sasl/--sasl-file" // where a user came from
			}
			if err := cfg.Validate(); err != nil {
				return usage(err)
			}
			privateFiles() // the data dir holds every record, committed offset and user
			ep, err := f.metrics.serve(e, new(metrics.Run), metrics.BrokerStage, 0)
			if err != nil {
				return err
			}
			defer ep.stop()
			c, err := broker.Start(cfg)
			if err != nil {
				return err
			}
			if r := c.Recovery(); r.Unclean {
				e.say("segmerge broker: the last run on %s did not stop cleanly: read %d records, closed %d transactions left open with an ABORT marker (%v)\n",
					f.dataDir, r.Records, r.Aborted, r.Took.Round(time.Millisecond))
			}
			fmt.Fprintf(e.stdout, "segmerge broker: %d brokers listening, data in %s\n", len(c.Addrs()), f.dataDir)
			fmt.Fprintf(e.stdout, "bootstrap: %s\n", c.Bootstrap())
			for _, kv := range clientSettings(cfg, c.CAFile()) {
				fmt.Fprintf(e.stdout, "%s: %s\n", kv[0], kv[1])
			}
			<-cmd.Context().Done()
			c.Close()
			fmt.Fprintln(e.stdout, "segmerge broker: stopped, state saved")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", strings.Join(broker.DefaultListen, ","), "comma-separated host:port per broker (port 0 picks a free one)")
	fl.StringVar(&f.advertise, "advertise", "", "what the brokers tell clients to connect to: one HOST for all (each keeps its port), or one HOST[:PORT] per --listen address (default: the --listen address; required with a wildcard one, 0.0.0.0 or ::)")
	fl.StringVar(&f.dataDir, "data-dir", "./data/broker", "directory the cluster's state is persisted in")
	fl.StringVar(&f.logLevel, "log-level", "none", "kfake's own log on stderr: none, error, warn, info or debug")
	fl.BoolVar(&f.tls, "tls", false, "serve TLS on every listener, with a certificate made for the listen and advertised hosts (and kept, with its CA, under <data-dir>/tls), or --tls-cert's")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "with --tls, serve this PEM certificate chain (the broker's certificate first) in place of one made")
	fl.StringVar(&f.tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	fl.StringArrayVar(&f.sasl, "sasl", nil, "a SASL user, `MECHANISM:USER:PASSWORD` with MECHANISM PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; repeat for more users; the first is the superuser")
	fl.StringVar(&f.saslFile, "sasl-file", "", "read SASL users from this file, one MECHANISM:USER:PASSWORD a line (blank lines and # comments skipped), after the --sasl ones")
	fl.BoolVar(&f.acls, "acls", false, "enforce ACLs: users other than the first --sasl user need grants")
	f.metrics.add(cmd)
	fl.BoolVar(&f.insecure, "insecure", false, "allow a --listen address other than loopback with no --sasl, or with PLAIN users and no --tls")
	return cmd
}

// config is the broker.Config the flags ask for; its errors are usage
// errors, and never hold a password.
func (f *brokerFlags) config(log io.Writer) (broker.Config, error) {
	addrs := split(f.listen)
	if len(addrs) == 0 {
		return broker.Config{}, usage(fmt.Errorf("invalid --listen %q: give host:port addresses", f.listen))
	}
	level, err := broker.ParseLogLevel(f.logLevel)
	if err != nil {
		return broker.Config{}, usage(fmt.Errorf("invalid --log-level: %w", err))
	}
	cfg := broker.Config{Listen: addrs, Advertise: split(f.advertise), DataDir: f.dataDir,
		TLS: f.tls, TLSCert: f.tlsCert, TLSKey: f.tlsKey, ACLs: f.acls, Insecure: f.insecure, Log: log, LogLevel: level}
	// A value is never quoted back: with a field missing, what sits
	// where the name should be may be the password.
	for i, v := range f.sasl {
		u, ok := parseUser(v)
		if !ok {
			return broker.Config{}, usage(fmt.Errorf("invalid --sasl value %d: want MECHANISM:USER:PASSWORD, as in SCRAM-SHA-512:admin:secret", i+1))
		}
		cfg.SASL = append(cfg.SASL, u)
	}
	if f.saslFile != "" {
		b, err := os.ReadFile(f.saslFile)
		if err != nil {
			return broker.Config{}, usage(fmt.Errorf("invalid --sasl-file: %w", err))
		}
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSuffix(line, "\r") // a password keeps its spaces
			if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			u, ok := parseUser(line)
			if !ok {
				return broker.Config{}, usage(fmt.Errorf("invalid --sasl-file %s: line %d: want MECHANISM:USER:PASSWORD, as in SCRAM-SHA-512:admin:secret", f.saslFile, i+1))
			}
			cfg.SASL = append(cfg.SASL, u)
		}
	}
	return cfg, nil
}

// parseUser reads MECHANISM:USER:PASSWORD; the mechanism's case does not
// matter.
func parseUser(s string) (broker.User, bool) {
	fields := strings.SplitN(s, ":", 3)
	if len(fields) != 3 {
		return broker.User{}, false
	}
	return broker.User{Mechanism: strings.ToUpper(fields[0]), Name: fields[1], Password: fields[2]}, true
}

// clientSettings are the librdkafka properties a client sets to reach a
// cluster started with cfg, as its first SASL user: all but the password.
// caFile is the CA the cluster made, if it made one.
func clientSettings(cfg broker.Config, caFile string) [][2]string {
	protocol := map[[2]bool]string{
		{false, false}: "PLAINTEXT", {true, false}: "SSL",
		{false, true}: "SASL_PLAINTEXT", {true, true}: "SASL_SSL",
	}[[2]bool{cfg.TLS, len(cfg.SASL) > 0}]
	out := [][2]string{{"security.protocol", protocol}}
	if len(cfg.SASL) > 0 {
		out = append(out, [2]string{"sasl.mechanism", cfg.SASL[0].Mechanism}, [2]string{"sasl.username", cfg.SASL[0].Name})
	}
	if caFile != "" {
		out = append(out, [2]string{"ssl.ca.location", caFile})
	}
	return out
}

// split is the comma-separated values in s, blanks dropped.
func split(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
