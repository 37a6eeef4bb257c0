package broker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/segmerge/segmerge/internal/setting"
)

// LogLevel is how much of kfake's log a Cluster writes to Config.Log.
type LogLevel = kfake.LogLevel

// Log levels, from nothing to every request.
const (
	LogNone  = kfake.LogLevelNone
	LogError = kfake.LogLevelError
	LogWarn  = kfake.LogLevelWarn
	LogInfo  = kfake.LogLevelInfo
	LogDebug = kfake.LogLevelDebug
)

// ParseLogLevel reads a level name: none, error, warn, info or debug.
func ParseLogLevel(s string) (LogLevel, error) {
	for _, l := range []LogLevel{LogNone, LogError, LogWarn, LogInfo, LogDebug} {
		if strings.EqualFold(s, levelName(l)) {
			return l, nil
		}
	}
	return LogNone, fmt.Errorf("%q is not none, error, warn, info or debug", s)
}

func levelName(l LogLevel) string {
	switch l {
	case LogError:
		return "error"
	case LogWarn:
		return "warn"
	case LogInfo:
		return "info"
	case LogDebug:
		return "debug"
	}
	return "none"
}

// Cluster is a running embedded cluster.
type Cluster struct {
	c        *kfake.Cluster
	addrs    []string
	dataDir  string
	caFile   string
	lock     *os.File // holds the data dir's lock; nil without a data dir
	recovery Recovery
}

// Start starts a cluster and returns once every broker is listening. It
// refuses a Config that Validate refuses, and a DataDir another Cluster
// holds. Its order: hold DataDir, make or load the TLS certificate,
// recover from an unclean stop, listen; a failure releases what it took.
func Start(cfg Config) (_ *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	listen := cfg.listen()
	parts := cfg.Partitions
	if parts <= 0 {
		parts = 10
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(len(listen)),
		kfake.DefaultNumPartitions(parts),
	}
	if cfg.Log != nil && cfg.LogLevel > LogNone {
		opts = append(opts, kfake.WithLogger(kfake.BasicLogger(cfg.Log, cfg.LogLevel)))
	}
	opts = append(opts, cfg.saslOpts()...)
	var (
		rec  Recovery
		lock *os.File
	)
	if cfg.DataDir != "" {
		if lock, err = openDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				lock.Close()
			}
		}()
		// Once, before any cluster runs on the dir: each saves the
		// users it was given when it stops.
		if err = dropSavedUsers(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	// Before the recovery, which may read the whole log: a certificate
	// that cannot be served fails the start at once.
	serverTLS, caFile, err := cfg.serverTLS()
	if err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		// Its cluster is reached over loopback only, and by Start's
		// own clients: no TLS.
		if rec, err = recoverDataDir(cfg.DataDir, opts, cfg.superuser()); err != nil {
			return nil, err
		}
		if err := markRunning(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("start broker: %w", err)
		}
	}
	next := 0
	// kfake binds 127.0.0.1; bind the address asked for instead.
	// Brokers are created one after another, in order.
	opts = append(opts, kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		i, addr := next, listen[next]
		next++
		l, err := net.Listen(network, addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, setting.Invalid("Listen", addr, "the address is in use (is another broker running?): pick other ports")
		}
		if err != nil {
			return nil, err
		}
		// TLS here rather than with kfake.TLS, around the
		// listener: saslConn reads what TLS carries.
		return &listener{Listener: l, addr: cfg.advertise(i, l.Addr()), tls: serverTLS, sasl: len(cfg.SASL) > 0}, nil
	}))
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	return &Cluster{c: c, addrs: c.ListenAddrs(), dataDir: cfg.DataDir, caFile: caFile, lock: lock, recovery: rec}, nil
}

// Recovery says what Start did to recover from an unclean stop (see
// recover.go); its Unclean is false after a clean one.
func (c *Cluster) Recovery() Recovery { return c.recovery }

// Addrs is the address every broker advertises (Config.Advertise, else
// the one it is bound to): what clients bootstrap from.
func (c *Cluster) Addrs() []string { return c.addrs }

// Bootstrap is Addrs joined by commas, as -b takes it.
func (c *Cluster) Bootstrap() string { return strings.Join(c.addrs, ",") }

// CAFile is the absolute path of the PEM file of the CA that signed the
// certificate the brokers serve, when Start made it (Config.TLS with no
// TLSCert); "" otherwise. Clients trust it to verify the brokers.
func (c *Cluster) CAFile() string { return c.caFile }

// Kfake is the underlying cluster, for tests that inject faults.
func (c *Cluster) Kfake() *kfake.Cluster { return c.c }

// Close stops the cluster, saving its state to the data directory,
// marking the stop clean and then releasing the data dir's lock; it is
// idempotent.
func (c *Cluster) Close() {
	c.c.Close()
	if c.dataDir != "" {
		markStopped(c.dataDir) // a leftover mark costs a recovery scan, no more
	}
	c.lock.Close() // a second call, or a nil lock, returns an error and does nothing
}
