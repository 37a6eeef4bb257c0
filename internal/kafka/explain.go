package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Why adds to err, a request of cl (nil: not known) that failed, what a
// user can do about
// it, when the failure says: a certificate not trusted, TLS spoken to a
// plaintext listener, an authentication refused, a resource the user may
// not use (op on kind name, "READ", "topic", "segment-topic"). Other errors
// it returns as they are. The message names the client property to look
// at, never a secret's value.
func Why(err error, cl *kgo.Client, op, kind, name string) error {
	if err == nil {
		return nil
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		record    tls.RecordHeaderError
	)
	switch {
	case strings.Contains(err.Error(), "is TLS missing?"):
		return err // kgo says it already
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w: the brokers' certificate is signed by a CA this client does not trust: give ssl.ca.location the CA's PEM file", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w: the brokers' certificate does not name the host dialed: connect by a name it holds, or set ssl.endpoint.identification.algorithm=none", err)
	case errors.As(err, &record):
		return fmt.Errorf("%w: the brokers do not speak TLS: security.protocol should be PLAINTEXT or SASL_PLAINTEXT", err)
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("%w: check sasl.username, sasl.password and sasl.mechanism", err)
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		if cl == nil {
			return fmt.Errorf("%w: the brokers closed the connection: with SASL, a wrong sasl.username or sasl.password, or a sasl.mechanism they do not offer; without, listeners that want SASL (security.protocol)", err)
		}
		if usesSASL(cl) {
			return fmt.Errorf("%w: the brokers closed the connection as it authenticated: a wrong sasl.username or sasl.password, or a sasl.mechanism they do not offer", err)
		}
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed):
		return &DeniedError{Err: err, Op: op, Kind: kind, Name: name}
	}
	return err
}

// DeniedError is a request the brokers' ACLs refused.
type DeniedError struct {
	Err            error
	Op, Kind, Name string // READ topic segment-topic
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%v: this client's user may not %s %s %s: grant it that (kafka-acls.sh --add --allow-principal User:<user> --operation %s --%s %s)",
		e.Err, e.Op, e.Kind, e.Name, e.Op, e.Kind, e.Name)
}

func (e *DeniedError) Unwrap() error { return e.Err }

// usesSASL reports whether cl authenticates with SASL.
func usesSASL(cl *kgo.Client) bool {
	if cl == nil {
		return false
	}
	ms, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism)
	return len(ms) > 0
}
