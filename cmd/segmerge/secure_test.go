package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// brokerOut is what a `segmerge broker` process says on stdout.
type brokerOut struct {
	lines chan string // closed at EOF
	all   syncBuffer
}

// secureBroker starts `segmerge broker` on free 127.0.0.1 ports with data
// dir data and the extra args, and returns it with the bootstrap line and
// client settings it printed, key by key: it reads until it has the
// bootstrap line and every key in want.
func secureBroker(t *testing.T, data string, want []string, args ...string) (*proc, map[string]string, *brokerOut) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, w, append([]string{"broker", "--listen", "127.0.0.1:0,127.0.0.1:0,127.0.0.1:0", "--data-dir", data}, args...)...)
	w.Close()
	out := &brokerOut{lines: make(chan string, 100)}
	go func() {
		defer close(out.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			out.all.Write([]byte(sc.Text() + "\n"))
			out.lines <- sc.Text()
		}
	}()
	got := map[string]string{}
	deadline := time.After(60 * time.Second)
	for slices.ContainsFunc(append([]string{"bootstrap"}, want...), func(k string) bool { _, ok := got[k]; return !ok }) {
		select {
		case line, ok := <-out.lines:
			if !ok {
				t.Fatalf("broker %v exited having printed:\n%s\nstderr:\n%s", args, out.all.String(), p.stderr.String())
			}
			if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(k, "segmerge ") {
				got[k] = v
			}
		case <-deadline:
			t.Fatalf("broker %v printed in 60s:\n%s\nstderr:\n%s", args, out.all.String(), p.stderr.String())
		}
	}
	return p, got, out
}

// rest is every line out holds until EOF, once p has stopped.
func (out *brokerOut) rest() []string {
	var lines []string
	for l := range out.lines {
		lines = append(lines, l)
	}
	return lines
}

// roundTrip creates topic, produces one record to it and consumes it
// back, within 20s.
func roundTrip(bootstrap, topic string, opts ...kgo.Opt) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(strings.Split(bootstrap, ",")...),
		kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return err
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		return err
	}
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fs.Err(); err != nil {
			return err
		}
		if fs.NumRecords() > 0 {
			return nil
		}
	}
}

// ping lists the cluster's topics, within 10s.
func ping(bootstrap string, opts ...kgo.Opt) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(strings.Split(bootstrap, ",")...))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = kadm.NewClient(cl).ListTopics(ctx)
	return err
}

// trust is a client's TLS that trusts the CA in the PEM file path.
func trust(t *testing.T, path string) kgo.Opt {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", path)
	}
	return kgo.DialTLSConfig(&tls.Config{RootCAs: roots})
}

// With --tls, a client that trusts the CA the broker made (and names in
// ssl.ca.location) produces and consumes; a plaintext client fails, within
// a bound. A restart keeps the CA, so the client keeps trusting it.
func TestBrokerTLS(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	br, got, _ := secureBroker(t, data, []string{"security.protocol", "ssl.ca.location"}, "--tls")
	want := map[string]string{"bootstrap": got["bootstrap"], "security.protocol": "SSL", "ssl.ca.location": filepath.Join(data, "tls", "ca.pem")}
	if !maps.Equal(got, want) {
		t.Fatalf("stdout said %v, want %v", got, want)
	}
	ca, err := os.ReadFile(got["ssl.ca.location"])
	if err != nil {
		t.Fatal(err)
	}
	tlsOpt := trust(t, got["ssl.ca.location"])
	if err := roundTrip(got["bootstrap"], "t", tlsOpt); err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	began := time.Now()
	if err := ping(got["bootstrap"]); err == nil {
		t.Fatal("a plaintext client reached a TLS broker")
	} else {
		t.Logf("plaintext client: %v after %v", err, time.Since(began).Round(time.Millisecond))
	}
	if code := br.interrupt(t); code != 0 {
		t.Fatalf("broker after Ctrl+C: exit %d; stderr:\n%s", code, br.stderr.String())
	}

	br, got, _ = secureBroker(t, data, []string{"ssl.ca.location"}, "--tls")
	if again, err := os.ReadFile(got["ssl.ca.location"]); err != nil || !bytes.Equal(again, ca) {
		t.Fatalf("the CA after a restart: %v; the same bytes: %v", err, bytes.Equal(again, ca))
	}
	if err := roundTrip(got["bootstrap"], "t", tlsOpt); err != nil {
		t.Fatalf("TLS client after a restart: %v", err)
	}
	br.interrupt(t)
}

// SASL/SCRAM-SHA-512 over TLS: the right password reaches the cluster, a
// wrong one or none does not, and no password is ever printed.
func TestBrokerSASL(t *testing.T) {
	const pass = "p4ss-word-ZX81"
	br, got, out := secureBroker(t, filepath.Join(t.TempDir(), "data"), []string{"security.protocol", "sasl.mechanism", "sasl.username", "ssl.ca.location"},
		"--tls", "--sasl", "scram-sha-512:admin:"+pass, "--sasl", "PLAIN:bob:"+pass+"-bob", "--log-level", "debug")
	want := map[string]string{"bootstrap": got["bootstrap"], "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin", "ssl.ca.location": got["ssl.ca.location"]}
	if !maps.Equal(got, want) {
		t.Fatalf("stdout said %v, want %v", got, want)
	}
	tlsOpt := trust(t, got["ssl.ca.location"])
	admin := scram.Auth{User: "admin", Pass: pass}.AsSha512Mechanism()
	if err := roundTrip(got["bootstrap"], "t", tlsOpt, kgo.SASL(admin)); err != nil {
		t.Fatalf("admin with the right password: %v", err)
	}
	wrong := scram.Auth{User: "admin", Pass: pass + "x"}.AsSha512Mechanism()
	if err := ping(got["bootstrap"], tlsOpt, kgo.SASL(wrong)); err == nil {
		t.Fatal("admin with a wrong password got in")
	} else {
		t.Logf("with a wrong password: %v", err)
	}
	// kfake drops the connection of a failed authentication (the client
	// sees EOF) rather than answering SASL_AUTHENTICATION_FAILED; its log
	// says why.
	if !strings.Contains(br.stderr.String(), "invalid password") {
		t.Fatalf("the broker's log does not say the password was wrong:\n%s", br.stderr.String())
	}
	if err := ping(got["bootstrap"], tlsOpt); err == nil {
		t.Fatal("a client with no SASL got in")
	}
	bob := plain.Auth{User: "bob", Pass: pass + "-bob"}.AsMechanism()
	if err := ping(got["bootstrap"], tlsOpt, kgo.SASL(bob)); err != nil {
		t.Fatalf("bob, a PLAIN user: %v", err)
	}
	wrongBob := plain.Auth{User: "bob", Pass: pass}.AsMechanism()
	if err := ping(got["bootstrap"], tlsOpt, kgo.SASL(wrongBob)); err == nil {
		t.Fatal("bob with a wrong password got in")
	}
	if code := br.interrupt(t); code != 0 {
		t.Fatalf("broker after Ctrl+C: exit %d; stderr:\n%s", code, br.stderr.String())
	}
	if rest := out.rest(); !slices.Equal(rest, []string{"segmerge broker: stopped, state saved"}) {
		t.Fatalf("stdout after the settings: %q", rest)
	}
	if strings.Contains(out.all.String()+br.stderr.String(), pass) {
		t.Fatalf("a password was printed:\nstdout:\n%s\nstderr:\n%s", out.all.String(), br.stderr.String())
	}
}

// With --acls, a user other than the superuser is denied until the
// superuser grants it, and the grant outlives a restart.
func TestBrokerACLs(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"--sasl", "SCRAM-SHA-256:admin:admin-secret", "--sasl", "SCRAM-SHA-256:alice:alice-secret", "--acls"}
	br, got, _ := secureBroker(t, data, []string{"sasl.username"}, args...)
	alice := kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism())
	admin := kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha256Mechanism())
	if err := roundTrip(got["bootstrap"], "t", admin); err != nil {
		t.Fatalf("the superuser: %v", err)
	}
	err := roundTrip(got["bootstrap"], "t", alice)
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice before a grant: %v, want %v", err, kerr.TopicAuthorizationFailed)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(got["bootstrap"], ",")...), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := kadm.NewClient(cl).CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts("*").
		Topics("t").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAll))
	if err == nil {
		for _, r := range res {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	if err := roundTrip(got["bootstrap"], "t", alice); err != nil {
		t.Fatalf("alice after a grant: %v", err)
	}
	if err := roundTrip(got["bootstrap"], "other", alice); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice on a topic she has no grant for: %v, want %v", err, kerr.TopicAuthorizationFailed)
	}

	if code := br.interrupt(t); code != 0 {
		t.Fatalf("broker after Ctrl+C: exit %d; stderr:\n%s", code, br.stderr.String())
	}
	br, got, _ = secureBroker(t, data, []string{"sasl.username"}, args...)
	if err := roundTrip(got["bootstrap"], "t", alice); err != nil {
		t.Fatalf("alice after a restart: %v", err)
	}
	br.interrupt(t)
}

// A malformed --sasl is a usage error naming the flag, and never quotes
// the password back.
func TestBrokerSASLErrorsHideThePassword(t *testing.T) {
	const pass = "hunter2-secret"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sasl", pass}, "invalid --sasl value 1: want MECHANISM:USER:PASSWORD"},
		{[]string{"--sasl", "admin:" + pass}, "invalid --sasl value 1: want MECHANISM:USER:PASSWORD"},
		{[]string{"--sasl", "PLAIN:admin:x", "--sasl", pass + ":admin:x"}, "invalid --sasl: user 2's mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{[]string{"--sasl", "admin:" + pass + ":x"}, "invalid --sasl: user 1's mechanism must be"},
		{[]string{"--sasl", "PLAIN::" + pass}, `invalid --sasl "PLAIN:": the user name is empty`},
		{[]string{"--sasl", "PLAIN:admin:"}, `invalid --sasl "PLAIN:admin": the password is empty`},
		{[]string{"--sasl", "PLAIN:admin:" + pass, "--sasl", "plain:admin:" + pass}, `invalid --sasl "PLAIN:admin": the user is given twice`},
		{[]string{"--acls"}, "invalid --acls: needs --sasl users"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := run(append([]string{"broker"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tc.want)
			}
			if strings.Contains(strings.ToLower(stdout+stderr), pass) {
				t.Fatalf("the password is in the output: %q %q", stdout, stderr)
			}
		})
	}
}

// writeCert writes a CA and a certificate it signed for 127.0.0.1 to dir
// and returns the paths of the CA, the certificate and its key.
func writeCert(t *testing.T, dir string) (caPath, certPath, keyPath string) {
	t.Helper()
	pemFile := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "test broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	return pemFile("ca.pem", "CERTIFICATE", caDER), pemFile("cert.pem", "CERTIFICATE", der), pemFile("key.pem", "PRIVATE KEY", keyDER)
}

// With --tls-cert and --tls-key, the brokers serve that certificate and
// make none; the client settings name no CA, as the broker knows none.
func TestBrokerTLSCertGiven(t *testing.T) {
	dir := t.TempDir()
	caPath, certPath, keyPath := writeCert(t, dir)
	data := filepath.Join(dir, "data")
	br, got, out := secureBroker(t, data, []string{"security.protocol"}, "--tls", "--tls-cert", certPath, "--tls-key", keyPath)
	if err := roundTrip(got["bootstrap"], "t", trust(t, caPath)); err != nil {
		t.Fatalf("client trusting the given certificate's CA: %v", err)
	}
	if code := br.interrupt(t); code != 0 {
		t.Fatalf("broker after Ctrl+C: exit %d; stderr:\n%s", code, br.stderr.String())
	}
	if got["security.protocol"] != "SSL" || strings.Contains(out.all.String(), "ssl.ca.location") {
		t.Fatalf("stdout:\n%s", out.all.String())
	}
	if _, err := os.Stat(filepath.Join(data, "tls")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the broker made a certificate it does not serve: %v", err)
	}

	// A key that is not the certificate's fails the start, naming the flag.
	_, _, otherKey := writeCert(t, t.TempDir())
	p := start(t, nil, "broker", "--listen", "127.0.0.1:0", "--data-dir", data, "--tls", "--tls-cert", certPath, "--tls-key", otherKey)
	code := p.wait(t, 30*time.Second)
	if code != exitFailure || !strings.Contains(p.stderr.String(), `invalid --tls-cert "`+certPath+`": with --tls-key "`+otherKey+`": tls: private key does not match public key`) {
		t.Fatalf("a mismatched key: exit %d, %s", code, p.stderr.String())
	}
}

// kcat (librdkafka) reaches a broker with --tls and --sasl with the client
// settings the broker printed, and the password: it produces and consumes
// as a PLAIN and as a SCRAM user, and a wrong password fails
// authentication.
func TestKcatWithPrintedSettings(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		msg := "kcat not found (Debian package kcat): TestKcatWithPrintedSettings not run"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	br, got, _ := secureBroker(t, filepath.Join(t.TempDir(), "data"), []string{"security.protocol", "sasl.mechanism", "sasl.username", "ssl.ca.location"},
		"--tls", "--sasl", "SCRAM-SHA-512:admin:admin-secret", "--sasl", "PLAIN:bob:bob-secret")
	defer br.interrupt(t)
	admin := kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism())
	if err := roundTrip(got["bootstrap"], "kcat", trust(t, got["ssl.ca.location"]), admin); err != nil {
		t.Fatal(err)
	}
	kcat := func(stdin string, settings map[string]string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		all := []string{"-b", got["bootstrap"], "-t", "kcat"}
		for k, v := range settings {
			if k != "bootstrap" {
				all = append(all, "-X", k+"="+v)
			}
		}
		cmd := exec.CommandContext(ctx, "kcat", append(all, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	asBob := maps.Clone(got)
	asBob["sasl.mechanism"], asBob["sasl.username"], asBob["sasl.password"] = "PLAIN", "bob", "bob-secret"
	if out, err := kcat("from-bob\n", asBob, "-P"); err != nil {
		t.Fatalf("kcat -P as bob: %v\n%s", err, out)
	}
	asAdmin := maps.Clone(got)
	asAdmin["sasl.password"] = "admin-secret"
	out, err := kcat("", asAdmin, "-C", "-e", "-q", "-f", "%s\n")
	if err != nil || out != "hello\nfrom-bob\n" {
		t.Fatalf("kcat -C as admin: %v\n%s", err, out)
	}
	asAdmin["sasl.password"] = "wrong"
	if out, err := kcat("", asAdmin, "-L", "-m", "5"); err == nil || !strings.Contains(out, "SASL authentication error") {
		t.Fatalf("kcat -L with a wrong password: %v\n%s", err, out)
	}
}

// --insecure lets a wildcard --listen with no --sasl through, which
// without it is refused. (Checked on the config the flags make, not on a
// process: tests listen on 127.0.0.1 only.)
func TestBrokerInsecureAllowsOpenListen(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		f := brokerFlags{listen: "0.0.0.0:9091,0.0.0.0:9092", advertise: "kafka.example", dataDir: "data", logLevel: "none", insecure: insecure}
		cfg, err := f.config(nil)
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		if insecure && err != nil {
			t.Errorf("with --insecure: %v", err)
		}
		if !insecure && (err == nil || !strings.Contains(err.Error(), "Insecure")) {
			t.Errorf("without --insecure: %v", err)
		}
	}
}

// With --advertise, the brokers tell clients the name given, on the port
// each is bound to, in the bootstrap line and in metadata, and the
// certificate made for --tls names it: a client that reaches the brokers
// by that name alone (its dialer resolves it, and refuses any other)
// verifies them and produces and consumes.
func TestBrokerAdvertise(t *testing.T) {
	const name = "kafka.segmerge.example"
	br, got, _ := secureBroker(t, filepath.Join(t.TempDir(), "data"), []string{"ssl.ca.location"}, "--advertise", name, "--tls")
	defer br.interrupt(t)
	bootstrap := strings.Split(got["bootstrap"], ",")
	for _, a := range bootstrap {
		if host, port, _ := net.SplitHostPort(a); host != name || port == "0" {
			t.Fatalf("bootstrap %s: want %s:PORT for each broker", got["bootstrap"], name)
		}
	}
	pem, err := os.ReadFile(got["ssl.ca.location"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	var dials atomic.Int32
	dial := kgo.Dialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if host != name {
			return nil, fmt.Errorf("dialed %s, not %s", addr, name)
		}
		dials.Add(1)
		conn, err := net.Dial(network, net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			return nil, err
		}
		tc := tls.Client(conn, &tls.Config{RootCAs: roots, ServerName: name})
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		return tc, nil
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), dial)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	brokers, err := kadm.NewClient(cl).ListBrokers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(brokers) != 3 {
		t.Fatalf("metadata names %d brokers, want 3", len(brokers))
	}
	for _, b := range brokers {
		if b.Host != name {
			t.Fatalf("metadata advertises broker %d at %s:%d, want %s", b.NodeID, b.Host, b.Port, name)
		}
	}
	if err := roundTrip(got["bootstrap"], "t", dial); err != nil {
		t.Fatalf("client dialing %s: %v", name, err)
	}
	t.Logf("%d dials, all to %s", dials.Load(), name)
}

// --sasl-file gives the users one a line, after the --sasl ones, so that
// no password is in the process's arguments; a bad line is a usage error
// that names the file and the line, not what is on it.
func TestBrokerSASLFile(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	if err := os.WriteFile(users, []byte("# the superuser comes from --sasl\n\nscram-sha-256:alice:alice secret \r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	br, got, _ := secureBroker(t, filepath.Join(dir, "data"), []string{"sasl.username"},
		"--sasl", "SCRAM-SHA-256:admin:admin-secret", "--sasl-file", users, "--acls")
	defer br.interrupt(t)
	if got["sasl.username"] != "admin" {
		t.Fatalf("the first user is %q, want admin, from --sasl", got["sasl.username"])
	}
	alice := kgo.SASL(scram.Auth{User: "alice", Pass: "alice secret "}.AsSha256Mechanism())
	if err := ping(got["bootstrap"], alice); err != nil {
		t.Fatalf("alice, from the file, with the password as written: %v", err)
	}
	if err := roundTrip(got["bootstrap"], "t", alice); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice, not the superuser: %v, want %v", err, kerr.TopicAuthorizationFailed)
	}

	const pass = "hunter2-secret"
	for _, tc := range []struct{ file, want string }{
		{"PLAIN:bob:x\n" + pass + "\n", `invalid --sasl-file ` + users + `: line 2: want MECHANISM:USER:PASSWORD`},
		{"PLAIN:bob:\n", `invalid --sasl/--sasl-file "PLAIN:bob": the password is empty`},
	} {
		if err := os.WriteFile(users, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := run("broker", "--sasl-file", users)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Contains(stdout+stderr, pass) {
			t.Errorf("--sasl-file holding %q: exit %d, %q; want exit 2 and %q, no password", tc.file, code, stderr, tc.want)
		}
	}
	if code, _, stderr := run("broker", "--sasl-file", filepath.Join(dir, "nope")); code != exitUsage || !strings.Contains(stderr, "invalid --sasl-file: open ") {
		t.Errorf("a missing --sasl-file: exit %d, %q", code, stderr)
	}
}
