package broker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// savedUsers is the file in which kfake saves its SASL users (PLAIN
// passwords in clear text, SCRAM ones salted and hashed) and from which
// it loads them over the ones it is given (persist.go, loadSASL).
const savedUsers = "sasl.json"

// saslOpts are kfake's options for cfg's users and ACLs.
func (cfg *Config) saslOpts() []kfake.Opt {
	var opts []kfake.Opt
	for i, u := range cfg.SASL {
		if i == 0 {
			opts = append(opts, kfake.EnableSASL(), kfake.Superuser(u.Mechanism, u.Name, u.Password))
			continue
		}
		opts = append(opts, kfake.User(u.Mechanism, u.Name, u.Password))
	}
	if cfg.ACLs {
		opts = append(opts, kfake.EnableACLs())
	}
	return opts
}

// superuser are the options a client of Start's own (the recovery's)
// needs to authenticate as cfg's superuser; none without SASL.
func (cfg *Config) superuser() []kgo.Opt {
	if len(cfg.SASL) == 0 {
		return nil
	}
	return []kgo.Opt{kgo.SASL(mechanism(cfg.SASL[0]))}
}

// mechanism is franz-go's client side of u.
func mechanism(u User) sasl.Mechanism {
	switch u.Mechanism {
	case MechanismScramSHA256:
		return scram.Auth{User: u.Name, Pass: u.Password}.AsSha256Mechanism()
	case MechanismScramSHA512:
		return scram.Auth{User: u.Name, Pass: u.Password}.AsSha512Mechanism()
	}
	return plain.Auth{User: u.Name, Pass: u.Password}.AsMechanism()
}

// dropSavedUsers removes the users a previous run saved in dir, so that a
// cluster started on it has the users it is given and no others: kfake
// replaces those with the saved ones, and a run without SCRAM users saves
// none, which then leaves a later run given SCRAM users with none at all.
func dropSavedUsers(dir string) error {
	err := os.Remove(filepath.Join(dir, savedUsers))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("drop the users saved in the data dir: %w", err)
	}
	return nil
}
