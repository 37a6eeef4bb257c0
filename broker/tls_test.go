package broker

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tlsFiles reads what ownCert keeps in dir.
func tlsFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range []string{caFile, caKeyFile, serverFile, serverKeyFile} {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(path); fi.Mode() != 0o600 {
			t.Errorf("%s is %v, want 0600", path, fi.Mode())
		}
		files[name] = b
	}
	if fi, _ := os.Stat(dir); fi.Mode() != 0o700|os.ModeDir {
		t.Errorf("%s is %v, want 0700", dir, fi.Mode())
	}
	return files
}

// What ownCert keeps is reused while it serves every host for 30 days
// more; a server certificate that does not is made again by the same CA,
// and the CA only when it cannot be used.
func TestOwnCertIsKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	now := time.Now()
	if _, err := ownCert(dir, hosts, now); err != nil {
		t.Fatal(err)
	}
	first := tlsFiles(t, dir)
	same := func(what string, files map[string][]byte, names ...string) {
		t.Helper()
		for _, name := range names {
			if !bytes.Equal(files[name], first[name]) {
				t.Errorf("%s: %s was made again", what, name)
			}
		}
	}
	changed := func(what string, files map[string][]byte, names ...string) {
		t.Helper()
		for _, name := range names {
			if bytes.Equal(files[name], first[name]) {
				t.Errorf("%s: %s was kept", what, name)
			}
		}
	}

	if _, err := ownCert(dir, hosts, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	same("a restart", tlsFiles(t, dir), caFile, caKeyFile, serverFile, serverKeyFile)

	more := append(hosts, "broker.example", "192.0.2.7")
	cert, err := ownCert(dir, more, now)
	if err != nil {
		t.Fatal(err)
	}
	files := tlsFiles(t, dir)
	same("a new host", files, caFile, caKeyFile)
	changed("a new host", files, serverFile, serverKeyFile)
	ca, _ := readCert(filepath.Join(dir, caFile))
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, h := range more {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots}); err != nil {
			t.Errorf("the new certificate for %s: %v", h, err)
		}
	}
	first = files

	if _, err := ownCert(dir, more, now.Add(serverLife-renewBefore+time.Hour)); err != nil {
		t.Fatal(err)
	}
	files = tlsFiles(t, dir)
	same("a server certificate expiring", files, caFile, caKeyFile)
	changed("a server certificate expiring", files, serverFile)
	first = files

	if _, err := ownCert(dir, more, now.Add(caLife)); err != nil {
		t.Fatal(err)
	}
	files = tlsFiles(t, dir)
	changed("a CA expiring", files, caFile, caKeyFile, serverFile)
	first = files

	if err := os.WriteFile(filepath.Join(dir, caKeyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ownCert(dir, more, now); err != nil {
		t.Fatal(err)
	}
	changed("a broken CA key", tlsFiles(t, dir), caFile, serverFile)
}

// CAFile is absolute, whatever DataDir is relative to.
func TestCAFileIsAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	c, err := Start(Config{Listen: []string{"127.0.0.1:0"}, DataDir: "data", TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if want := filepath.Join(dir, "data", tlsDir, caFile); c.CAFile() != want {
		t.Fatalf("CAFile %q, want %q", c.CAFile(), want)
	}
}
