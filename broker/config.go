package broker

import (
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/segmerge/segmerge/internal/setting"
)

// DefaultListen is where `segmerge broker` listens unless told otherwise: the
// ports of the original Docker setup.
var DefaultListen = []string{"127.0.0.1:9091", "127.0.0.1:9092", "127.0.0.1:9093"}

// Config sets up a Cluster. Validate says what makes no sense in it.
type Config struct {
	// Listen is one host:port per broker; port 0 picks a free port.
	// A host that is not a loopback one (127.0.0.0/8, ::1, localhost)
	// serves the network: it needs SASL users, or Insecure. A wildcard
	// host (0.0.0.0, ::, or none) binds every interface and needs
	// Advertise. Default DefaultListen.
	Listen []string
	// Advertise is the address each broker tells clients to connect to
	// (in metadata, and in Cluster.Addrs), in place of the one it is
	// bound to: one HOST for every broker, or one HOST or HOST:PORT per
	// Listen entry, in order. A HOST alone keeps the port the broker is
	// bound to; a port names what clients reach it by through a port
	// forward. Default: the bound address.
	Advertise []string
	// DataDir persists the cluster's state; "" keeps it in memory only.
	// One Cluster at a time runs on a data dir: Start refuses a data
	// dir another Cluster, in this process or another, holds. The hold
	// is an flock(2) the kernel drops when its holder ends, however it
	// ends (not where flock does not exist: there nothing is held).
	// Start creates a missing DataDir 0700 and makes an existing one
	// 0700, so that nothing in it is open to other users; the files it
	// writes itself are 0600. kfake creates its files 0644 and its
	// directories 0755 less the process umask: a process that wants
	// them 0600 and 0700 as they are written sets umask 077, as
	// `segmerge broker` does.
	DataDir string
	// Partitions is the partition count of topics created implicitly;
	// default 10.
	Partitions int

	// TLS serves TLS on every listener, with the certificate chain in
	// TLSCert and its key in TLSKey or, with both empty, a certificate
	// Start makes for every Listen host but a wildcard, every Advertise
	// host, and localhost, 127.0.0.1 and ::1, signed by a CA it makes
	// (ECDSA P-256). Both are kept under DataDir/tls (ca.pem,
	// ca-key.pem, server.pem, server-key.pem; 0600) and reused by later
	// starts: the server certificate is made again, by the same CA,
	// when it is missing, does not name every host, or expires within
	// 30 days (it lasts a year); the CA (ten years) only when it is
	// missing or unusable. Cluster.CAFile says where the CA is.
	TLS bool
	// TLSCert is a PEM certificate chain file, the brokers' own
	// certificate first; it needs TLS and TLSKey.
	TLSCert string
	// TLSKey is the PEM file of TLSCert's private key.
	TLSKey string

	// SASL makes clients authenticate as one of these users before
	// anything else. The first is the superuser, whom ACLs never stop.
	// The users are these and no others at every start: kfake saves
	// its users in DataDir and would load them over these, so Start
	// drops the saved ones first, and SCRAM credentials changed through
	// the protocol last until the next start.
	SASL []User
	// ACLs enforces ACLs: a user other than the superuser may do only
	// what an ACL allows. The superuser grants them (CreateACLs, as
	// kafka-acls.sh --add does), and DataDir keeps them. It needs SASL.
	ACLs bool
	// Insecure allows a listener on a non-loopback host with no SASL
	// users (it serves everyone who reaches it), or with PLAIN users
	// and no TLS (they send their passwords in clear text).
	Insecure bool

	// Log receives kfake's own log lines (requests, transaction aborts,
	// what a restart replayed from DataDir) at LogLevel and above; nil
	// (the default) logs nothing. They never hold a password.
	Log io.Writer
	// LogLevel is kfake's level: LogNone (the default), LogError,
	// LogWarn, LogInfo or LogDebug.
	LogLevel LogLevel
}

// User is a SASL user. Its String and GoString leave the password out,
// so that printing a Config never shows one.
type User struct {
	Mechanism string // MechanismPlain, MechanismScramSHA256 or MechanismScramSHA512
	Name      string
	Password  string
}

// The SASL mechanisms a User may have.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// String is MECHANISM:NAME, without the password.
func (u User) String() string { return u.Mechanism + ":" + u.Name }

// GoString is String, for %#v.
func (u User) GoString() string { return "broker.User{" + u.String() + "}" }

// listen is Listen or its default.
func (cfg *Config) listen() []string {
	if len(cfg.Listen) == 0 {
		return DefaultListen
	}
	return cfg.Listen
}

// Validate rejects settings that make no sense, naming the field at fault
// (a *setting.Error). A password is never part of an error.
func (cfg *Config) Validate() error {
	listen := cfg.listen()
	var exposed, wildcard string // the first Listen entry that is not loopback, and the first wildcard
	for _, a := range listen {
		host, err := splitListen(a)
		if err != nil {
			return err
		}
		kind := hostKind(host)
		if kind != hostLoopback && exposed == "" {
			exposed = a
		}
		if kind == hostWildcard && wildcard == "" {
			wildcard = a
		}
	}
	if n := len(cfg.Advertise); n > 1 && n != len(listen) {
		return setting.Invalid("Advertise", strings.Join(cfg.Advertise, ","), "names %d addresses for %d brokers: give one HOST for all, or one address per {Listen} address", n, len(listen))
	}
	for _, a := range cfg.Advertise {
		host, port, err := splitAdvertise(a)
		if err != nil {
			return err
		}
		if port != "" && len(cfg.Advertise) == 1 && len(listen) > 1 {
			return setting.Invalid("Advertise", a, "names one port for %d brokers: give HOST alone to keep each broker's port, or one HOST:PORT per {Listen} address", len(listen))
		}
		if hostKind(host) == hostWildcard {
			return setting.Invalid("Advertise", a, "is a wildcard address, which clients cannot connect to: give a name or address that reaches this machine")
		}
	}
	if wildcard != "" && len(cfg.Advertise) == 0 {
		name, _ := os.Hostname()
		return setting.Invalid("Listen", wildcard, "binds every interface, and clients cannot connect to a wildcard address: give {Advertise} HOST, a name or address that reaches this machine (its host name is %q)", name)
	}
	plain := false
	seen := map[User]bool{}
	for i, u := range cfg.SASL {
		plain = plain || u.Mechanism == MechanismPlain
		key := User{Mechanism: u.Mechanism, Name: u.Name}
		switch {
		case u.Mechanism != MechanismPlain && u.Mechanism != MechanismScramSHA256 && u.Mechanism != MechanismScramSHA512:
			// Nothing of the user: fields out of place may put
			// the password anywhere.
			return setting.Invalid("SASL", "", "user %d's mechanism must be %s, %s or %s", i+1, MechanismPlain, MechanismScramSHA256, MechanismScramSHA512)
		case u.Name == "":
			return setting.Invalid("SASL", u.String(), "the user name is empty")
		case u.Password == "":
			return setting.Invalid("SASL", u.String(), "the password is empty")
		case seen[key]:
			return setting.Invalid("SASL", u.String(), "the user is given twice")
		}
		seen[key] = true
	}
	switch {
	case exposed != "" && len(cfg.SASL) == 0 && !cfg.Insecure:
		return setting.Invalid("Listen", exposed, "serves everyone who can reach it, with no authentication: give {SASL} users, or {Insecure} to serve it open anyway")
	case exposed != "" && plain && !cfg.TLS && !cfg.Insecure:
		return setting.Invalid("Listen", exposed, "would receive PLAIN passwords in clear text: add {TLS}, use SCRAM users, or give {Insecure} to allow it anyway")
	case cfg.ACLs && len(cfg.SASL) == 0:
		return setting.Invalid("ACLs", "", "needs {SASL} users: the first is the superuser, who grants the others")
	case cfg.TLSCert == "" && cfg.TLSKey != "":
		return setting.Invalid("TLSKey", cfg.TLSKey, "needs {TLSCert} too")
	case cfg.TLSCert != "" && cfg.TLSKey == "":
		return setting.Invalid("TLSCert", cfg.TLSCert, "needs {TLSKey} too")
	case cfg.TLSCert != "" && !cfg.TLS:
		return setting.Invalid("TLSCert", cfg.TLSCert, "is served only with {TLS}")
	case cfg.TLS && cfg.TLSCert == "" && cfg.DataDir == "":
		return setting.Invalid("TLS", "", "with no {TLSCert} needs a {DataDir} to keep the CA it makes in")
	}
	return nil
}

// splitListen checks a Listen entry and returns its host.
func splitListen(a string) (string, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		example := "127.0.0.1:9091"
		if _, err := strconv.ParseUint(a, 10, 16); err == nil {
			example = "127.0.0.1:" + a
		}
		return "", setting.Invalid("Listen", a, "needs host:port, as in %s (an IPv6 host in brackets, as in [::1]:9091)", example)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", setting.Invalid("Listen", a, "the port must be a number from 0 to 65535 (0 picks a free one)")
	}
	return host, nil
}

// splitAdvertise checks an Advertise entry and returns its host, and its
// port or "".
func splitAdvertise(a string) (host, port string, err error) {
	if h, p, err := net.SplitHostPort(a); err == nil {
		host, port = h, p
	} else if ip := strings.TrimSuffix(strings.TrimPrefix(a, "["), "]"); net.ParseIP(ip) != nil {
		host = ip // an IPv6 address without a port, bracketed or not
	} else if !strings.ContainsAny(a, ":[]") {
		host = a
	} else {
		return "", "", setting.Invalid("Advertise", a, "needs HOST or HOST:PORT (an IPv6 host in brackets, as in [::1]:9091)")
	}
	if host == "" {
		return "", "", setting.Invalid("Advertise", a, "names no host")
	}
	if p, err := strconv.ParseUint(port, 10, 16); port != "" && (err != nil || p == 0) {
		return "", "", setting.Invalid("Advertise", a, "the port must be a number from 1 to 65535")
	}
	return host, port, nil
}

// advertise is the address broker i advertises, bound to bound.
func (cfg *Config) advertise(i int, bound net.Addr) net.Addr {
	if len(cfg.Advertise) == 0 {
		return bound
	}
	a := cfg.Advertise[0]
	if len(cfg.Advertise) > 1 {
		a = cfg.Advertise[i]
	}
	host, port, _ := splitAdvertise(a) // Validate checked it
	if port == "" {
		_, port, _ = net.SplitHostPort(bound.String())
	}
	return advertised(net.JoinHostPort(host, port))
}

// advertised is an address clients connect to.
type advertised string

func (advertised) Network() string  { return "tcp" }
func (a advertised) String() string { return string(a) }

// What a host reaches.
const (
	hostLoopback = iota // this machine only
	hostNetwork         // one interface, which others may reach
	hostWildcard        // every interface
)

// hostKind says what a Listen host reaches. A name other than localhost
// counts as the network: what it resolves to can change.
func hostKind(host string) int {
	if host == "" {
		return hostWildcard
	}
	if strings.EqualFold(host, "localhost") {
		return hostLoopback
	}
	ip := net.ParseIP(strings.SplitN(host, "%", 2)[0]) // fe80::1%eth0
	switch {
	case ip == nil:
		return hostNetwork
	case ip.IsUnspecified():
		return hostWildcard
	case ip.IsLoopback():
		return hostLoopback
	}
	return hostNetwork
}
