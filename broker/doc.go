// Package broker runs segmerge's embedded Kafka cluster: franz-go's kfake,
// which speaks the real Kafka protocol, with one listener per broker and its
// state (topics, records, committed offsets, transactions, users' grants)
// persisted to a data directory so that a restart keeps it.
//
// It is one process with no replication: for development, demos and tests.
// Production points segmerge at a real cluster with -b. It must never name
// a flag: its errors name the Config field at fault (internal/setting), and
// the command line renders the flag.
//
// # The data dir
//
// One Cluster at a time runs on a data dir, held with an flock(2) that the
// kernel drops with the process (lock_unix.go), taken before anything
// reads the dir: a second broker is refused before it could take the
// first one's running mark for a crash and "recover" the live data. The
// dir is 0700; what this package writes in it is 0600; kfake writes its
// own files with the modes it chooses, less the process umask (see
// Config.DataDir). After an unclean stop Start first closes the
// transactions the crash left open (recover.go).
//
// # Security
//
// Everything is off by default, and a Config that would serve the network
// with nothing on is refused (Config.Validate): a listener off loopback
// needs SASL users or Insecure, and a wildcard one needs Advertise, since
// kfake advertises the address its listener is bound to.
//
//   - TLS (tls.go): the brokers serve a certificate given, or one made and
//     kept in the data dir with the CA that signed it, reused across starts
//     so that clients keep trusting the same ca.pem.
//   - SASL (sasl.go): PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 users, the
//     first the superuser. They are exactly the users given at every start:
//     kfake would load a previous run's over them.
//   - ACLs: kfake's; the superuser grants, the data dir keeps the grants.
//
// kfake advertises SaslHandshake from version 1 only, and librdkafka
// clients (kcat) then refuse to authenticate: with SASL users, listen.go
// shows version 0 in every ApiVersions response. That and the advertised
// address are the only changes this package makes to kfake's answers.
package broker
