package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/internal/kafka"
)

// clientFlags say how a command reaches the cluster: -b/--brokers, -X
// key=value (repeatable), -F/--config FILE, and the environment
// (SEGMERGE_BROKERS, KAFKA_BROKERS, SEGMERGE_X_<KEY>). A setting given in
// several places is taken from the first of: a flag, -X, the environment,
// the file.
type clientFlags struct {
	brokers string
	x       []string
	file    string
	log     *env // if set, the Kafka client logs through its logger
}

// envPrefix names a client property in the environment: SEGMERGE_X_ and the
// key with dots as underscores (SEGMERGE_X_SASL_PASSWORD), so that a
// secret need not sit on a command line.
const envPrefix = "SEGMERGE_X_"

func (c *clientFlags) add(cmd *cobra.Command, e *env) {
	c.log = e
	f := cmd.Flags()
	f.StringVarP(&c.brokers, "brokers", "b", "", "comma-separated bootstrap brokers (default -X bootstrap.servers, else $SEGMERGE_BROKERS, else $KAFKA_BROKERS, else -F's bootstrap.servers, else the embedded cluster "+strings.Join(broker.DefaultListen, ",")+")")
	f.StringArrayVarP(&c.x, "property", "X", nil, "a client property key=value, repeatable, by librdkafka's name (security.protocol, sasl.mechanism, sasl.username, ssl.ca.location, ...: see 'segmerge help client')")
	f.StringVarP(&c.file, "config", "F", "", "read client properties from FILE (key=value lines, # comments: what kcat -F and kafka-*.sh --command-config read)")
}

// resolve returns the brokers and the client options the flags, the
// environment and the file say; a property that cannot be taken is bad
// usage, naming the key and where it was given.
func (c *clientFlags) resolve() ([]string, []kgo.Opt, error) {
	bs, opts, err := c.resolveProps()
	if err != nil || c.log == nil {
		return bs, opts, err
	}
	return bs, append([]kgo.Opt{c.log.kgoLog()}, opts...), nil
}

func (c *clientFlags) resolveProps() ([]string, []kgo.Opt, error) {
	props, err := c.props()
	if err != nil {
		return nil, nil, usage(err)
	}
	opts, fromProps, err := props.Options(os.ReadFile)
	if err != nil {
		return nil, nil, usage(err)
	}
	if c.brokers != "" {
		bs, err := parseBrokers("--brokers", c.brokers)
		return bs, opts, err
	}
	if len(fromProps) > 0 {
		return fromProps, opts, nil
	}
	return broker.DefaultListen, opts, nil
}

// props gathers the properties by precedence: -X, the environment, the
// file. SEGMERGE_BROKERS and KAFKA_BROKERS are bootstrap.servers in the
// environment.
func (c *clientFlags) props() (kafka.Props, error) {
	var x kafka.Props
	for _, kv := range c.x {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return x, fmt.Errorf("invalid -X %q: must be key=value", redactKV(kv))
		}
		if err := x.Set(k, v, "-X"); err != nil {
			return x, err
		}
	}
	var env kafka.Props
	keys := os.Environ()
	sort.Strings(keys)
	for _, kv := range keys {
		name, v, _ := strings.Cut(kv, "=")
		key, ok := strings.CutPrefix(name, envPrefix)
		if !ok {
			continue
		}
		if err := env.Set(strings.ReplaceAll(strings.ToLower(key), "_", "."), v, "$"+name); err != nil {
			return x, err
		}
	}
	for _, name := range []string{"SEGMERGE_BROKERS", "KAFKA_BROKERS"} {
		if v := os.Getenv(name); v != "" {
			if _, ok := env.Get("bootstrap.servers"); !ok {
				env.Set("bootstrap.servers", v, "$"+name)
			}
		}
	}
	x.Merge(env)
	if c.file != "" {
		f, err := os.Open(c.file)
		if err != nil {
			return x, fmt.Errorf("invalid --config: %w", err)
		}
		defer f.Close()
		file, err := kafka.ReadProperties(f, c.file)
		if err != nil {
			return x, err
		}
		x.Merge(file)
	}
	if bs, ok := x.Get("bootstrap.servers"); ok {
		if _, err := parseBrokers("bootstrap.servers", bs); err != nil {
			return x, err
		}
	}
	return x, nil
}

// args are the flags as a child process takes them (segmerge bench runs
// consumers with the bench's own).
func (c *clientFlags) args() []string {
	var out []string
	for _, kv := range c.x {
		out = append(out, "-X", kv)
	}
	if c.file != "" {
		out = append(out, "-F", c.file)
	}
	return out
}

// redactKV shows key=value with a secret's value hidden.
func redactKV(kv string) string {
	if k, _, ok := strings.Cut(kv, "="); ok && kafka.Secret(k) {
		return k + "=..."
	}
	return kv
}

// parseBrokers reads a comma-separated list of host:port, what flag names.
func parseBrokers(what, s string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if !strings.Contains(b, ":") {
			return nil, usage(fmt.Errorf("invalid %s %q: %q needs host:port", what, s, b))
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, usage(fmt.Errorf("invalid %s %q: no broker in it", what, s))
	}
	return out, nil
}
