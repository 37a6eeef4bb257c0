package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/segmerge/segmerge/internal/setting"
)

// What Start makes, under DataDir/tls, when TLS has no TLSCert.
const (
	tlsDir        = "tls"
	caFile        = "ca.pem"         // what clients trust
	caKeyFile     = "ca-key.pem"     // signs the next server certificate
	serverFile    = "server.pem"     // what the brokers serve
	serverKeyFile = "server-key.pem" // its key
)

// Lifetimes of what Start makes. A server certificate that expires within
// renewBefore is made again at start; a CA that does as well is made
// again with it, and clients must then trust the new one.
const (
	caLife      = 10 * 365 * 24 * time.Hour
	serverLife  = 365 * 24 * time.Hour
	renewBefore = 30 * 24 * time.Hour
)

// serverTLS is the TLS the brokers serve when cfg asks for it (nil
// otherwise), and the absolute path of the CA file Start made for it (""
// with TLSCert).
func (cfg *Config) serverTLS() (*tls.Config, string, error) {
	if !cfg.TLS {
		return nil, "", nil
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, "", setting.Invalid("TLSCert", cfg.TLSCert, "with {TLSKey} %q: %v", cfg.TLSKey, err)
		}
		return serve(cert), "", nil
	}
	dir, err := filepath.Abs(filepath.Join(cfg.DataDir, tlsDir))
	if err != nil {
		return nil, "", err
	}
	cert, err := ownCert(dir, cfg.certHosts(), time.Now())
	if err != nil {
		return nil, "", fmt.Errorf("TLS certificate in %s: %w", dir, err)
	}
	return serve(cert), filepath.Join(dir, caFile), nil
}

// serve is the server side of TLS with cert.
func serve(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// certHosts are the names and addresses a certificate Start makes must be
// valid for: every Listen host but a wildcard, every Advertise host, and
// the loopback names.
func (cfg *Config) certHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	add := func(h string) {
		h = strings.SplitN(h, "%", 2)[0] // fe80::1%eth0: the address
		if hostKind(h) != hostWildcard && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, a := range cfg.listen() {
		h, _, _ := net.SplitHostPort(a)
		add(h)
	}
	for _, a := range cfg.Advertise {
		h, _, _ := splitAdvertise(a)
		add(h)
	}
	return hosts
}

// ownCert returns the server certificate kept in dir, made again by the
// CA kept there if it is missing, not valid for every host, or expiring
// within renewBefore at now; the CA is made again only if it is missing or
// unusable. Whatever it writes is 0600, in dir 0700.
func ownCert(dir string, hosts []string, now time.Time) (tls.Certificate, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, err
	}
	ca, caKey, err := loadCA(dir, now)
	if err == nil {
		if cert, err := loadServer(dir, ca, hosts, now); err == nil {
			return cert, nil
		}
	} else if ca, caKey, err = makeCA(dir, now); err != nil {
		return tls.Certificate{}, err
	}
	return makeServer(dir, ca, caKey, hosts, now)
}

// loadCA reads the CA kept in dir; it fails if the CA is missing, does not
// match its key, or expires within renewBefore.
func loadCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	ca, err := readCert(filepath.Join(dir, caFile))
	if err != nil {
		return nil, nil, err
	}
	key, err := readKey(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, nil, err
	}
	if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(key.Public()) {
		return nil, nil, errors.New("the CA does not match its key")
	}
	if !ca.IsCA || now.Add(renewBefore).After(ca.NotAfter) {
		return nil, nil, errors.New("the CA expires soon")
	}
	return ca, key, nil
}

// loadServer reads the server certificate kept in dir; it fails unless
// ca signed it for every host and it outlives now by renewBefore.
func loadServer(dir string, ca *x509.Certificate, hosts []string, now time.Time) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, serverFile), filepath.Join(dir, serverKeyFile))
	if err != nil {
		return cert, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, h := range hosts {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: now.Add(renewBefore)}); err != nil {
			return cert, err
		}
	}
	return cert, nil
}

// makeCA makes a CA and keeps it in dir.
func makeCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "segmerge broker CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLife),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := sign(tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKey(filepath.Join(dir, caKeyFile), key); err != nil {
		return nil, nil, err
	}
	if err := writeFile(filepath.Join(dir, caFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

// makeServer makes a server certificate for hosts, signed by ca, and
// keeps it in dir.
func makeServer(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "segmerge broker"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(serverLife),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := sign(tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writeKey(filepath.Join(dir, serverKeyFile), key); err != nil {
		return tls.Certificate{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeFile(filepath.Join(dir, serverFile), certPEM); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(filepath.Join(dir, serverFile), filepath.Join(dir, serverKeyFile))
}

// sign signs tmpl, with a random serial number, as parent with parentKey.
func sign(tmpl, parent *x509.Certificate, pub any, parentKey *ecdsa.PrivateKey) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

func readKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s holds no PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s holds no ECDSA key", path)
	}
	return key, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}
