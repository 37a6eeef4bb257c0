package kafka

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Client settings by librdkafka and Java property name, as kcat -X and
// -F, rpk -X and the kafka-*.sh --command-config files take them: how to
// reach a secured cluster (TLS, SASL) and the few client tunables a user
// reaches for. Props turns them into franz-go options; an unknown key, or
// a value of the wrong form, is a *PropError naming the key, and a
// secret's value never appears in one.

// Prop is a property segmerge reads.
type Prop struct {
	Key    string
	Help   string
	Secret bool // a password or a token: never printed
}

// Known lists every property segmerge reads, in the order the help lists
// them. A key's other spellings (Aliases) are read as it.
var Known = []Prop{
	{Key: "bootstrap.servers", Help: "comma-separated host:port of brokers to start from"},
	{Key: "client.id", Help: "the client id the brokers see (default segmerge)"},
	{Key: "security.protocol", Help: "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"},
	{Key: "sasl.mechanism", Help: "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"},
	{Key: "sasl.username", Help: "the SASL user"},
	{Key: "sasl.password", Help: "the SASL user's password", Secret: true},
	{Key: "sasl.oauthbearer.token", Help: "a static OAUTHBEARER token, or @FILE to read it from FILE", Secret: true},
	{Key: "sasl.jaas.config", Help: "a Java client's JAAS line (PlainLoginModule or ScramLoginModule): its username and password", Secret: true},
	{Key: "ssl.ca.location", Help: "PEM file of the CAs that sign the brokers' certificates (default: the system's)"},
	{Key: "ssl.certificate.location", Help: "PEM file of this client's certificate, for mutual TLS"},
	{Key: "ssl.key.location", Help: "PEM file of this client's private key"},
	{Key: "ssl.key.password", Help: "the password of an encrypted ssl.key.location", Secret: true},
	{Key: "ssl.endpoint.identification.algorithm", Help: "https (check the broker's host name; the default) or none (check only that a CA signed it)"},
	{Key: "ssl.truststore.type", Help: "PEM (a Java client's truststore; JKS and PKCS12 are not read)"},
	{Key: "ssl.truststore.location", Help: "with ssl.truststore.type PEM: as ssl.ca.location"},
	{Key: "fetch.max.bytes", Help: "the most a fetch response holds (overrides the share of the memory budget; with it, a partition's fetch is not cut for small records)"},
	{Key: "max.partition.fetch.bytes", Help: "the most a fetch takes of one partition (overrides the share of the memory budget, and its cut for small records)"},
	{Key: "fetch.wait.max.ms", Help: "how long a broker may hold a fetch with nothing to return (default 50)"},
	{Key: "request.timeout.ms", Help: "how long a request may take before the client gives up on it (franz-go: the read timeout on top of what it asks the broker to wait)"},
	{Key: "socket.connection.setup.timeout.ms", Help: "how long dialing a broker may take (default 10000)"},
	{Key: "metadata.max.age.ms", Help: "how often metadata is refreshed at most (default 300000)"},
	{Key: "retry.backoff.ms", Help: "the wait before a failed request is tried again, or a member that lost its group joins again; it doubles with each failure in a row (default 100)"},
	{Key: "retry.backoff.max.ms", Help: "the longest that wait grows to (default 1000)"},
	{Key: "linger.ms", Help: "how long the producer waits to fill a batch (default 5)"},
	{Key: "message.max.bytes", Help: "the largest record batch the producer sends"},
	{Key: "compression.type", Help: "how the producer compresses record batches: none, gzip, snappy (the default), lz4 or zstd"},
}

// aliases are other spellings of known keys.
var aliases = map[string]string{
	"sasl.mechanisms":      "sasl.mechanism", // librdkafka's plural
	"fetch.max.wait.ms":    "fetch.wait.max.ms",
	"metadata.broker.list": "bootstrap.servers",
	"compression.codec":    "compression.type", // librdkafka's
}

// Compressions are the codecs compression.type (and produce --compression)
// may name.
var Compressions = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// Canonical returns the key a property is read as, and whether segmerge
// reads it at all.
func Canonical(key string) (string, bool) {
	k := strings.ToLower(strings.TrimSpace(key))
	if a, ok := aliases[k]; ok {
		k = a
	}
	return k, slices.ContainsFunc(Known, func(p Prop) bool { return p.Key == k })
}

// Secret reports whether key's value is a secret.
func Secret(key string) bool {
	k, _ := Canonical(key)
	return slices.ContainsFunc(Known, func(p Prop) bool { return p.Key == k && p.Secret })
}

// PropError is a property segmerge cannot take: unknown, or a value of the
// wrong form. Its message never shows a secret's value.
type PropError struct {
	Key    string
	Value  string // "" for a secret
	Where  string // where it was given: "-X", a file and line, an environment variable
	Reason string
}

func (e *PropError) Error() string {
	s := "invalid client property " + e.Key
	if e.Value != "" {
		s += "=" + strconv.Quote(e.Value)
	}
	if e.Where != "" {
		s += " (" + e.Where + ")"
	}
	return s + ": " + e.Reason
}

// Props are client properties by canonical key, with where each was given.
type Props struct {
	vals  map[string]string
	where map[string]string
}

// Set sets key (any spelling) to value, given at where; an unknown key is
// an error.
func (p *Props) Set(key, value, where string) error {
	k, ok := Canonical(key)
	if !ok {
		return &PropError{Key: key, Where: where, Reason: "segmerge does not read this property (see the list in --help)"}
	}
	if p.vals == nil {
		p.vals, p.where = map[string]string{}, map[string]string{}
	}
	p.vals[k], p.where[k] = strings.TrimSpace(value), where
	return nil
}

// Get returns key's value and whether it was set.
func (p *Props) Get(key string) (string, bool) {
	v, ok := p.vals[key]
	return v, ok
}

// Merge sets in p every property of q that p does not have: q is of lower
// precedence.
func (p *Props) Merge(q Props) {
	for k, v := range q.vals {
		if _, ok := p.vals[k]; !ok {
			p.Set(k, v, q.where[k])
		}
	}
}

// ReadProperties reads properties in Java properties form (key=value or
// key: value, # and ! comments, a trailing backslash joining lines), as
// kcat -F and kafka-*.sh --command-config files hold them; name says where
// in errors.
func ReadProperties(r io.Reader, name string) (Props, error) {
	var p Props
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line, pending := 0, ""
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if pending == "" && (s == "" || s[0] == '#' || s[0] == '!') {
			continue
		}
		if strings.HasSuffix(s, `\`) && !strings.HasSuffix(s, `\\`) {
			pending += strings.TrimSuffix(s, `\`)
			continue
		}
		s, pending = pending+s, ""
		i := strings.IndexAny(s, "=:")
		if i < 0 {
			return p, &PropError{Key: s, Where: fmt.Sprintf("%s line %d", name, line), Reason: "not key=value"}
		}
		if err := p.Set(strings.TrimSpace(s[:i]), s[i+1:], fmt.Sprintf("%s line %d", name, line)); err != nil {
			return p, err
		}
	}
	return p, sc.Err()
}

// Options turns the properties into franz-go options, and returns the
// brokers bootstrap.servers names (nil if not set). read reads the files
// the properties name.
func (p *Props) Options(read func(path string) ([]byte, error)) (opts []kgo.Opt, brokers []string, err error) {
	if s, ok := p.vals["bootstrap.servers"]; ok {
		for _, b := range strings.Split(s, ",") {
			if b = strings.TrimSpace(b); b != "" {
				brokers = append(brokers, b)
			}
		}
		if len(brokers) == 0 {
			return nil, nil, p.bad("bootstrap.servers", "names no broker")
		}
	}
	if id, ok := p.vals["client.id"]; ok {
		opts = append(opts, kgo.ClientID(id))
	}
	proto := strings.ToUpper(p.vals["security.protocol"])
	switch proto {
	case "", "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
	default:
		return nil, nil, p.bad("security.protocol", "must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
	}
	if err := p.consistent(proto); err != nil {
		return nil, nil, err
	}
	if strings.HasSuffix(proto, "SSL") {
		cfg, err := p.tlsConfig(read)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if strings.HasPrefix(proto, "SASL") {
		m, err := p.mechanism(read)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	tune, err := p.tunables()
	if err != nil {
		return nil, nil, err
	}
	if c, ok := p.vals["compression.type"]; ok {
		codec, ok := Compressions[strings.ToLower(c)]
		if !ok {
			return nil, nil, p.bad("compression.type", "must be none, gzip, snappy, lz4 or zstd")
		}
		opts = append(opts, kgo.ProducerBatchCompression(codec))
	}
	return append(opts, tune...), brokers, nil
}

// consistent refuses TLS or SASL settings that security.protocol would
// ignore: a cluster that wants them would only fail later, less clearly.
func (p *Props) consistent(proto string) error {
	for k := range p.vals {
		switch {
		case (strings.HasPrefix(k, "sasl.")) && !strings.HasPrefix(proto, "SASL"):
			return p.bad(k, fmt.Sprintf("is set, but security.protocol is %s, which uses no SASL: set security.protocol to SASL_SSL (or SASL_PLAINTEXT)", or(proto, "PLAINTEXT")))
		case strings.HasPrefix(k, "ssl.") && !strings.HasSuffix(proto, "SSL"):
			return p.bad(k, fmt.Sprintf("is set, but security.protocol is %s, which uses no TLS: set security.protocol to SSL or SASL_SSL", or(proto, "PLAINTEXT")))
		}
	}
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// bad is a PropError for key's value, hidden if it is a secret.
func (p *Props) bad(key, reason string) *PropError {
	v := p.vals[key]
	if Secret(key) {
		v = ""
	}
	return &PropError{Key: key, Value: v, Where: p.where[key], Reason: reason}
}

func (p *Props) tlsConfig(read func(string) ([]byte, error)) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	caKey := "ssl.ca.location"
	if _, ok := p.vals[caKey]; !ok {
		if _, ok := p.vals["ssl.truststore.location"]; ok {
			if t := strings.ToUpper(p.vals["ssl.truststore.type"]); t != "PEM" {
				return nil, p.bad("ssl.truststore.type", "only PEM truststores are read (set ssl.truststore.type=PEM, or give ssl.ca.location a PEM file)")
			}
			caKey = "ssl.truststore.location"
		}
	}
	if path, ok := p.vals[caKey]; ok {
		b, err := read(path)
		if err != nil {
			return nil, p.bad(caKey, err.Error())
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(b) {
			return nil, p.bad(caKey, "holds no PEM certificate")
		}
	}
	cert, hasCert := p.vals["ssl.certificate.location"]
	key, hasKey := p.vals["ssl.key.location"]
	switch {
	case hasCert != hasKey:
		return nil, p.bad("ssl.certificate.location", "needs ssl.key.location beside it, and the other way round")
	case hasCert:
		pair, err := p.keyPair(read, cert, key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	switch strings.ToLower(p.vals["ssl.endpoint.identification.algorithm"]) {
	case "", "https":
	case "none":
		// Check the chain, not the host name: Go checks both or
		// neither, so the chain is checked here.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, roots)
		}
	default:
		return nil, p.bad("ssl.endpoint.identification.algorithm", "must be https or none")
	}
	return cfg, nil
}

// verifyChain checks that raw, a peer's certificates, chain to roots (nil:
// the system's), whatever host they name.
func verifyChain(raw [][]byte, roots *x509.CertPool) error {
	if len(raw) == 0 {
		return errors.New("the broker sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}

// keyPair loads the client's certificate and key, decrypting a key
// encrypted with ssl.key.password.
func (p *Props) keyPair(read func(string) ([]byte, error), certPath, keyPath string) (tls.Certificate, error) {
	certPEM, err := read(certPath)
	if err != nil {
		return tls.Certificate{}, p.bad("ssl.certificate.location", err.Error())
	}
	keyPEM, err := read(keyPath)
	if err != nil {
		return tls.Certificate{}, p.bad("ssl.key.location", err.Error())
	}
	if pass, ok := p.vals["ssl.key.password"]; ok {
		blk, _ := pem.Decode(keyPEM)
		//lint:ignore SA1019 librdkafka's ssl.key.password decrypts legacy PEM encryption, the only kind PEM files carry
		if blk == nil || !x509.IsEncryptedPEMBlock(blk) { //nolint:staticcheck
			return tls.Certificate{}, p.bad("ssl.key.password", "is set, but ssl.key.location holds no encrypted PEM key")
		}
		//lint:ignore SA1019 see above
		der, err := x509.DecryptPEMBlock(blk, []byte(pass)) //nolint:staticcheck
		if err != nil {
			return tls.Certificate{}, p.bad("ssl.key.password", "does not decrypt ssl.key.location")
		}
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: blk.Type, Bytes: der})
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, p.bad("ssl.certificate.location", "with ssl.key.location: "+err.Error())
	}
	return pair, nil
}

// jaas reads a Java client's sasl.jaas.config: username="u" password="p".
var jaas = regexp.MustCompile(`(username|password)\s*=\s*"((?:[^"\\]|\\.)*)"`)

func (p *Props) mechanism(read func(string) ([]byte, error)) (sasl.Mechanism, error) {
	user, hasUser := p.vals["sasl.username"]
	pass, hasPass := p.vals["sasl.password"]
	if j, ok := p.vals["sasl.jaas.config"]; ok {
		for _, m := range jaas.FindAllStringSubmatch(j, -1) {
			if m[1] == "username" && !hasUser {
				user, hasUser = m[2], true
			}
			if m[1] == "password" && !hasPass {
				pass, hasPass = m[2], true
			}
		}
	}
	mech := strings.ToUpper(p.vals["sasl.mechanism"])
	if mech == "" {
		return nil, &PropError{Key: "sasl.mechanism", Reason: "security.protocol asks for SASL: say which mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"}
	}
	switch mech {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER":
	default:
		// Named first: asking a GSSAPI user for a password would send
		// them looking for the wrong thing.
		return nil, p.bad("sasl.mechanism", "must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER")
	}
	if mech == "OAUTHBEARER" {
		tok, ok := p.vals["sasl.oauthbearer.token"]
		if !ok {
			return nil, &PropError{Key: "sasl.oauthbearer.token", Reason: "sasl.mechanism OAUTHBEARER needs a token (or @FILE)"}
		}
		if path, ok := strings.CutPrefix(tok, "@"); ok {
			b, err := read(path)
			if err != nil {
				return nil, &PropError{Key: "sasl.oauthbearer.token", Reason: err.Error()}
			}
			tok = strings.TrimSpace(string(b))
		}
		return oauth.Auth{Token: tok}.AsMechanism(), nil
	}
	if !hasUser || !hasPass {
		return nil, &PropError{Key: "sasl.username", Reason: fmt.Sprintf("sasl.mechanism %s needs sasl.username and sasl.password (or sasl.jaas.config)", mech)}
	}
	switch mech {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	default: // SCRAM-SHA-512, as checked above
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
}

// tunables are the client tunables set.
func (p *Props) tunables() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	num := func(key string, min int64) (int64, bool, error) {
		s, ok := p.vals[key]
		if !ok {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < min || n > 1<<31-1 {
			return 0, false, p.bad(key, fmt.Sprintf("must be a whole number from %d", min))
		}
		return n, true, nil
	}
	ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, t := range []struct {
		key string
		min int64
		opt func(int64) kgo.Opt
	}{
		{"fetch.max.bytes", 1, func(n int64) kgo.Opt { return kgo.FetchMaxBytes(int32(n)) }},
		{"max.partition.fetch.bytes", 1, func(n int64) kgo.Opt { return kgo.FetchMaxPartitionBytes(int32(n)) }},
		{"fetch.wait.max.ms", 1, func(n int64) kgo.Opt { return kgo.FetchMaxWait(ms(n)) }},
		{"request.timeout.ms", 1, func(n int64) kgo.Opt { return kgo.RequestTimeoutOverhead(ms(n)) }},
		{"socket.connection.setup.timeout.ms", 1, func(n int64) kgo.Opt { return kgo.DialTimeout(ms(n)) }},
		{"metadata.max.age.ms", 1, func(n int64) kgo.Opt { return kgo.MetadataMaxAge(ms(n)) }},
		{"linger.ms", 0, func(n int64) kgo.Opt { return kgo.ProducerLinger(ms(n)) }},
		{"message.max.bytes", 1000, func(n int64) kgo.Opt { return kgo.ProducerBatchMaxBytes(int32(n)) }},
	} {
		n, ok, err := num(t.key, t.min)
		if err != nil {
			return nil, err
		}
		if ok {
			opts = append(opts, t.opt(n))
			if t.key == "fetch.max.bytes" || t.key == "max.partition.fetch.bytes" {
				opts = append(opts, kgo.WithHooks(FetchBoundsGiven{}))
			}
		}
	}
	base, hasBase, err := num("retry.backoff.ms", 1)
	if err != nil {
		return nil, err
	}
	most, hasMost, err := num("retry.backoff.max.ms", 1)
	if err != nil {
		return nil, err
	}
	if hasBase || hasMost {
		b, m := RetryBackoffMin, RetryBackoffMax
		if hasBase {
			b = ms(base)
		}
		if hasMost {
			m = ms(most)
		}
		if b > m {
			// Name the key given: the base alone, against the default
			// bound, or the bound.
			key, bound := "retry.backoff.max.ms", m.String()
			if !hasMost {
				key, bound = "retry.backoff.ms", bound+", its default: set it too"
			}
			return nil, p.bad(key, fmt.Sprintf("retry.backoff.ms (%v) must not exceed retry.backoff.max.ms (%s)", b, bound))
		}
		opts = append(opts, kgo.RetryBackoffFn(RetryBackoff(b, m)))
	}
	// A response as large as fetch.max.bytes must be readable: kgo refuses
	// a fetch bound above its read bound, 100 MiB unless raised.
	if n, ok, _ := num("fetch.max.bytes", 1); ok && n > 100<<20 {
		opts = append(opts, kgo.BrokerMaxReadBytes(int32(min(n+1<<20, 1<<30))))
	}
	return opts, nil
}
