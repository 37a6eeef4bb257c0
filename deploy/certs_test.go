package deploy

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMakeCertsServeSegmerge runs sasl-ssl/make-certs.sh and checks what
// it writes against the SASL_SSL compose file: every file the brokers and
// their health checks name is there, each broker's certificate chains to
// ca.crt for the names it is reached by, and segmerge, given the
// environment the compose file gives the producer and the consumer (with
// ca.crt at its path here), produces to and consumes from an embedded
// broker that serves kafka-1's certificate over SASL_SSL with SCRAM-SHA-512
// for the user of segmerge.env.example. It is no Kafka broker; what it
// shows is that the certificates, the CA and the client settings fit.
func TestMakeCertsServeSegmerge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs keytool some twenty times: about 20s")
	}
	for _, tool := range []string{"bash", "keytool", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	c, err := parseCompose(composeFiles[1], readFile(t, composeFiles[1]))
	if err != nil {
		t.Fatal(err)
	}
	bs, ps := c.brokers()
	report(t, ps)

	secrets := filepath.Join(t.TempDir(), "secrets")
	mk := exec.Command("bash", filepath.Join(root, "deploy/sasl-ssl/make-certs.sh"), secrets)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make-certs.sh: %v\n%s", err, out)
	}

	// The files the compose file names in /etc/kafka/secrets.
	need := map[string]bool{"ca.crt": true}
	for _, b := range bs {
		for k, v := range b.env {
			if strings.HasPrefix(k, "KAFKA_SSL_") && (strings.HasSuffix(k, "_FILENAME") || strings.HasSuffix(k, "_CREDENTIALS")) {
				need[v] = true
			}
		}
	}
	for _, name := range c.serviceNames() {
		test, _ := list(c.file.Services[name].Healthcheck.Test)
		for _, f := range strings.Fields(strings.Join(test, " ")) {
			if rel, ok := strings.CutPrefix(f, "/etc/kafka/secrets/"); ok {
				need[rel] = true
			}
		}
	}
	if len(need) < 8 {
		t.Errorf("the compose file names %d files in /etc/kafka/secrets: %v", len(need), need)
	}
	for f := range need {
		if _, err := os.Stat(filepath.Join(secrets, f)); err != nil {
			t.Errorf("the compose file needs %s, which make-certs.sh did not write", f)
		}
	}

	// Each broker's certificate, for its names.
	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(secrets, "ca.crt"))
	if err != nil || !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("ca.crt holds no certificate (%v)", err)
	}
	var chain, key []byte
	for _, b := range bs {
		ks := filepath.Join(secrets, b.env["KAFKA_SSL_KEYSTORE_FILENAME"])
		certs := openssl(t, secrets, ks, "-nokeys", "-clcerts")
		blk, _ := pem.Decode(certs)
		if blk == nil {
			t.Fatalf("%s holds no certificate", ks)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{b.host, "localhost", "127.0.0.1"} {
			opts := x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
			if _, err := cert.Verify(opts); err != nil {
				t.Errorf("%s: %s's certificate, for %s: %v", b.service, ks, name, err)
			}
		}
		if chain == nil {
			chain, key = certs, openssl(t, secrets, ks, "-nocerts", "-nodes")
		}
	}

	// segmerge, configured as the compose file configures its producer.
	env := map[string]string{}
	s := c.file.Services["producer"]
	if e, err := envOf(s.Environment); err == nil {
		for k, v := range e {
			env[k] = v
		}
	}
	files, _ := envFiles(s.EnvFile)
	for _, f := range files {
		fenv, _, err := readEnvFile(path.Join(c.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range fenv {
			env[k] = v
		}
	}
	env["SEGMERGE_X_SSL_CA_LOCATION"] = filepath.Join(secrets, "ca.crt")
	user, pass := env["SEGMERGE_X_SASL_USERNAME"], env["SEGMERGE_X_SASL_PASSWORD"]
	if user == "" || pass == "" || env["SEGMERGE_X_SASL_MECHANISM"] != "SCRAM-SHA-512" {
		t.Fatalf("the producer's environment has no SCRAM-SHA-512 user: %v", env)
	}

	work := t.TempDir()
	for name, b := range map[string][]byte{"chain.pem": chain, "key.pem": key} {
		if err := os.WriteFile(filepath.Join(work, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	brokers := startBroker(t, work, "--tls", "--tls-cert", filepath.Join(work, "chain.pem"), "--tls-key", filepath.Join(work, "key.pem"),
		"--sasl", "SCRAM-SHA-512:"+user+":"+pass)
	out := filepath.Join(work, "out.jsonl")
	runSegmerge(t, env, "produce", "-b", brokers, "--batches", "3", "-q")
	runSegmerge(t, env, "consume", "-b", brokers, "-e", "--from-beginning", "-q", "--out-file", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 3 {
		t.Errorf("consumed %d batches over SASL_SSL, want 3", n)
	}
}

// openssl reads a PKCS#12 keystore make-certs.sh wrote, as PEM.
func openssl(t *testing.T, secrets, keystore string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("openssl", append([]string{"pkcs12", "-in", keystore, "-passin", "file:" + filepath.Join(secrets, "keystore_creds")}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl pkcs12 %s: %v", keystore, err)
	}
	return out
}

// startBroker runs segmerge's embedded broker on free loopback ports until
// the test ends, and returns its bootstrap brokers.
func startBroker(t *testing.T, dir string, args ...string) string {
	t.Helper()
	args = append([]string{"broker", "--listen", "127.0.0.1:0,127.0.0.1:0,127.0.0.1:0", "--data-dir", filepath.Join(dir, "broker")}, args...)
	cmd := exec.Command(segmerge, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		r.Close()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if b, ok := strings.CutPrefix(sc.Text(), "bootstrap: "); ok {
				found <- b
			}
		}
		close(found)
	}()
	select {
	case b, ok := <-found:
		if !ok {
			t.Fatal("segmerge broker exited before it listened")
		}
		return b
	case <-time.After(30 * time.Second):
		t.Fatal("segmerge broker did not say where it listens within 30s")
	}
	return ""
}

// runSegmerge runs segmerge with env as its whole environment (PATH aside).
func runSegmerge(t *testing.T, env map[string]string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, segmerge, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("segmerge %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
