package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/verify"
)

// securedCluster starts an embedded cluster serving SASL_SSL (SCRAM-SHA-512
// over the TLS it made) and returns it with the client properties to
// reach it, as librdkafka takes them.
func securedCluster(t *testing.T) (*broker.Cluster, map[string]string) {
	t.Helper()
	c, err := broker.Start(broker.Config{
		Listen: []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}, DataDir: t.TempDir(),
		TLS: true, SASL: []broker.User{{Mechanism: broker.MechanismScramSHA512, Name: "admin", Password: "adm1n-pw"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, map[string]string{
		"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
		"sasl.username": "admin", "sasl.password": "adm1n-pw", "ssl.ca.location": c.CAFile(),
	}
}

// segmergeConfig makes consumer configs reach c with props, as -X would.
func segmergeConfig(t *testing.T, props map[string]string) func(*consumer.Config) {
	t.Helper()
	var p kafka.Props
	for k, v := range props {
		if err := p.Set(k, v, "test"); err != nil {
			t.Fatal(err)
		}
	}
	opts, _, err := p.Options(os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	return func(cc *consumer.Config) { cc.ClientOpts = opts }
}

// librdkafka (confluent_kafka) over SASL_SSL, with the CA segmerge's
// broker wrote: it produces the original producer's batches, segmerge
// merges them (over SASL_SSL too) into an output topic, and it reads that
// topic back, every batch once; verify agrees.
func TestPythonOverSASLSSL(t *testing.T) {
	requireTools(t, confluentKafka)
	c, props := securedCluster(t)
	conf, _ := json.Marshal(props)
	env := append(os.Environ(), "KAFKA_CONFIG="+string(conf))
	const topic, batches, output = "py-secure", 100, "py-secure-merged"
	input := filepath.Join(t.TempDir(), "input.jsonl")
	runEnv(t, env, python, "testdata/produce.py", c.Bootstrap(), topic, strconv.Itoa(batches), "3", input)
	st := consume(t, c, topic, "", func(cc *consumer.Config) {
		segmergeConfig(t, props)(cc)
		cc.OutputTopic = output
	})
	if st.Batches != batches {
		t.Fatalf("segmerge merged %d batches of %d over SASL_SSL (stats %+v)", st.Batches, batches, st)
	}
	got := runEnv(t, env, python, "testdata/consume.py", c.Bootstrap(), output, "py-secure-reader")
	if n := len(lines(got)); n != batches {
		t.Fatalf("confluent_kafka read %d records of %s, want %d", n, output, batches)
	}
	rep, err := verify.Run(ctx(t), verify.Config{InputLog: input, Brokers: c.Addrs(), Topic: output, ClientOpts: clientOpts(t, props)})
	if err != nil || !rep.OK() || rep.Batches != batches {
		t.Fatalf("verify: %v %s", err, rep.Summary())
	}
}

// kcat over SASL_SSL: it writes segments to a secured segmerge broker,
// segmerge merges them, and kcat reads the merged record back.
func TestKcatOverSASLSSL(t *testing.T) {
	requireTools(t, kcat)
	c, props := securedCluster(t)
	var x []string
	for k, v := range props {
		x = append(x, "-X", k+"="+v)
	}
	const topic, output = "kcat-secure", "kcat-secure-merged"
	createSecured(t, c, props, topic, 2)
	for s := range 2 {
		rec := fmt.Sprintf(`{"batch_id":0,"segment_id":%d,"segments":2,"data":[%d,%d]}`, s, s, s+2)
		run(t, rec+"\n", "kcat", append([]string{"-P", "-b", c.Bootstrap(), "-t", topic, "-p", strconv.Itoa(s)}, x...)...)
	}
	st := consume(t, c, topic, "", func(cc *consumer.Config) {
		segmergeConfig(t, props)(cc)
		cc.OutputTopic, cc.Segments = output, 2
	})
	if st.Batches != 1 {
		t.Fatalf("segmerge merged %d batches, want 1 (stats %+v)", st.Batches, st)
	}
	got := run(t, "", "kcat", append([]string{"-C", "-b", c.Bootstrap(), "-t", output, "-e", "-q", "-f", "%k %s\n", "-X", "isolation.level=read_committed"}, x...)...)
	if strings.TrimSpace(got) != `0 {"batch_id":0,"data":[0,1,2,3]}` {
		t.Fatalf("kcat read %q", got)
	}
}

// clientOpts are the franz-go options props make.
func clientOpts(t *testing.T, props map[string]string) []kgo.Opt {
	cc := consumer.DefaultConfig()
	segmergeConfig(t, props)(&cc)
	return cc.ClientOpts
}

// createSecured creates topic over the secured cluster.
func createSecured(t *testing.T, c *broker.Cluster, props map[string]string, topic string, partitions int32) {
	t.Helper()
	cl, err := kafka.Cluster{Brokers: c.Addrs(), Opts: clientOpts(t, props)}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, _, err := kafka.EnsureTopic(ctx(t), kadm.NewClient(cl), slog.New(slog.DiscardHandler), topic, partitions, false); err != nil {
		t.Fatal(err)
	}
}

// runEnv is run with the environment env.
func runEnv(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx(t), name, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
