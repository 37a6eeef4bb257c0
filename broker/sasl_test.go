package broker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ping connects to c as u (without SASL for a zero u) and lists the
// topics, within 10s.
func ping(t *testing.T, c *Cluster, u User, opts ...kgo.Opt) error {
	t.Helper()
	opts = append(opts, kgo.SeedBrokers(c.Addrs()...))
	if u != (User{}) {
		opts = append(opts, kgo.SASL(mechanism(u)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).ListTopics(ctx)
	return err
}

// lockedBuffer is a log a cluster writes while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The users are those given at every start, whatever an earlier run on
// the data dir had: kfake alone loads the users it saved over them (a run
// with none saved leaves a later one with no SCRAM user at all).
func TestUsersAreThoseGiven(t *testing.T) {
	dir := t.TempDir()
	c, err := Start(Config{Listen: threeFree, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, pass := range []string{"first-secret", "second-secret"} {
		admin := User{MechanismScramSHA512, "admin", pass}
		bob := User{MechanismPlain, "bob", pass}
		var log lockedBuffer
		c, err := Start(Config{Listen: threeFree, DataDir: dir, SASL: []User{admin, bob}, Log: &log, LogLevel: LogInfo})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []User{admin, bob} {
			if err := ping(t, c, u); err != nil {
				t.Errorf("%s with its password: %v", u, err)
			}
			wrong := u
			wrong.Password = "not-" + pass
			if err := ping(t, c, wrong); err == nil {
				t.Errorf("%s with a wrong password got in", u)
			}
		}
		if err := ping(t, c, User{}); err == nil {
			t.Errorf("a client with no SASL got in")
		}
		c.Close()
		// kfake drops the connection of a failed authentication rather
		// than answering SASL_AUTHENTICATION_FAILED: its log says why.
		if l := log.String(); !strings.Contains(l, "invalid password") || !strings.Contains(l, "invalid sasl") || strings.Contains(l, pass) {
			t.Errorf("kfake's log does not say the SCRAM and PLAIN passwords were wrong, or holds one:\n%s", l)
		}
	}
}

// After an unclean stop, the recovery runs on a cluster that requires
// SASL too, and authenticates as the superuser.
func TestRecoveryAuthenticates(t *testing.T) {
	dir := t.TempDir()
	admin := User{MechanismScramSHA256, "admin", "secret"}
	cfg := Config{Listen: threeFree, DataDir: dir, SASL: []User{admin}, ACLs: true}
	c, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.SASL(mechanism(admin)), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	c.Close()
	// What a crash leaves: the running mark.
	if err := os.WriteFile(filepath.Join(dir, runningFile), []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	c, err = Start(cfg)
	if err != nil {
		t.Fatalf("start after an unclean stop: %v (after %v)", err, time.Since(began))
	}
	defer c.Close()
	if r := c.Recovery(); !r.Unclean || r.Records != 1 {
		t.Fatalf("recovery %+v: want an unclean stop and the 1 record read", r)
	}
}
