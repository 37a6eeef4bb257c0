package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The whole pipeline over SASL_SSL (SCRAM-SHA-512 and TLS) against
// `segmerge broker --tls --sasl`: produce, consume in simple and concurrent
// modes, the batch layout, the repartition stage and the merge after it,
// each into an output topic that verify reads back, all OK; the client
// settings given by -X, by -F and by the environment.
func TestSecuredPipeline(t *testing.T) {
	t.Parallel() // waits on processes: see TestMain
	dir := t.TempDir()
	_, got, _ := secureBroker(t, filepath.Join(dir, "data"), []string{"ssl.ca.location"}, "--tls", "--sasl", "SCRAM-SHA-512:admin:s3cret-pw")
	addr, ca := got["bootstrap"], got["ssl.ca.location"]
	props := []string{"security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512", "sasl.username=admin", "sasl.password=s3cret-pw", "ssl.ca.location=" + ca}
	var x []string
	for _, p := range props {
		x = append(x, "-X", p)
	}
	file := filepath.Join(dir, "client.properties")
	os.WriteFile(file, []byte("# as kcat -F reads it\n"+strings.Join(props, "\n")+"\n"), 0o600)
	env := []string{"SEGMERGE_X_SECURITY_PROTOCOL=SASL_SSL", "SEGMERGE_X_SASL_MECHANISM=SCRAM-SHA-512",
		"SEGMERGE_X_SASL_USERNAME=admin", "SEGMERGE_X_SASL_PASSWORD=s3cret-pw", "SEGMERGE_X_SSL_CA_LOCATION=" + ca}
	ways := map[string]func(args ...string) *proc{
		"-X": func(args ...string) *proc { return start(t, nil, append(append(args, "-b", addr), x...)...) },
		"-F": func(args ...string) *proc { return start(t, nil, append(args, "-b", addr, "-F", file)...) },
		"env": func(args ...string) *proc {
			p := startEnv(t, env, append(args, "-b", addr)...)
			return p
		},
	}
	run := func(way string, d time.Duration, args ...string) {
		t.Helper()
		p := ways[way](args...)
		mustExit(t, p, d, 0)
		if strings.Contains(p.stderr.String(), "s3cret-pw") {
			t.Fatalf("%v printed the password:\n%s", args, p.stderr.String())
		}
	}
	input, byBatch := filepath.Join(dir, "input.jsonl"), filepath.Join(dir, "by-batch.jsonl")
	run("-X", time.Minute, "produce", "--batches", "200", "--input-log", input, "-q")
	run("-F", time.Minute, "produce", "--batches", "100", "--layout", "batch", "-t", "by-batch", "--input-log", byBatch, "-q")
	for _, tc := range []struct {
		way, name string
		args      []string
		input     string
	}{
		{"-X", "simple", []string{"consume", "--mode", "simple", "-g", "s"}, input},
		{"-F", "concurrent", []string{"consume", "--mode", "concurrent", "-g", "c"}, input},
		{"env", "batch layout", []string{"consume", "--layout", "batch", "-t", "by-batch", "-g", "b"}, byBatch},
	} {
		out := "out-" + strings.ReplaceAll(tc.name, " ", "-")
		run(tc.way, time.Minute, append(tc.args, "-e", "--from-beginning", "--output-topic", out, "-q")...)
		run(tc.way, time.Minute, "verify", "--input-log", tc.input, "--output-topic", out)
	}
	run("env", time.Minute, "consume", "--stage", "repartition", "-e", "--from-beginning", "-q")
	run("-X", time.Minute, "consume", "--layout", "batch", "-t", "segment-topic.by-batch", "-g", "m", "-e", "--from-beginning", "--output-topic", "out-two-stages", "-q")
	run("-F", time.Minute, "verify", "--input-log", input, "--output-topic", "out-two-stages")
}

// startEnv is start with env added to the process's environment.
func startEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	return p
}

// Authentication and authorization failures end a run within 15s, exit 1,
// saying which: a wrong password, a plaintext client on a TLS listener, a
// CA the client does not trust, a user without the grant it needs.
func TestSecuredFailuresSayWhich(t *testing.T) {
	dir := t.TempDir()
	_, got, _ := secureBroker(t, filepath.Join(dir, "data"), []string{"ssl.ca.location"}, "--tls", "--acls",
		"--sasl", "SCRAM-SHA-512:admin:s3cret-pw", "--sasl", "SCRAM-SHA-512:alice:alices-pw")
	addr, ca := got["bootstrap"], got["ssl.ca.location"]
	other, _, _ := writeCert(t, t.TempDir()) // a CA that signed nothing of the broker's
	sasl := func(user, pass, caPath string) []string {
		return []string{"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=" + user,
			"-X", "sasl.password=" + pass, "-X", "ssl.ca.location=" + caPath}
	}
	mustExit(t, start(t, nil, append([]string{"produce", "-b", addr, "--batches", "5", "-q"}, sasl("admin", "s3cret-pw", ca)...)...), time.Minute, 0)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong password", sasl("admin", "wrong-pw", ca), "sasl.password"},
		{"plaintext to TLS", nil, "TLS"},
		{"untrusted CA", sasl("admin", "s3cret-pw", other), "ssl.ca.location"},
		{"missing ACL", sasl("alice", "alices-pw", ca), "may not DESCRIBE topic segment-topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			p := start(t, nil, append([]string{"consume", "-b", addr, "-e", "--from-beginning", "--out-file", filepath.Join(t.TempDir(), "o.jsonl")}, tc.args...)...)
			mustExit(t, p, 20*time.Second, 1)
			took := time.Since(began)
			msg := p.stderr.String()
			t.Logf("after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(msg))
			if took > 15*time.Second || !strings.Contains(msg, tc.want) || strings.Contains(msg, "-pw") {
				t.Fatalf("after %v: %q, want within 15s a message with %q and no password", took, msg, tc.want)
			}
		})
	}
}
