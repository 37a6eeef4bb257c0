// Package deploy holds segmerge's deployment examples and the test that
// checks them; it has no code, and nothing may import it.
//
// The examples: Dockerfile (a static, non-root image of cmd/segmerge),
// docker-compose.yml (a three-node Apache Kafka cluster in KRaft mode, a
// producer and a consumer), docker-compose.sasl-ssl.yml with sasl-ssl/
// (the same over SASL_SSL with SCRAM-SHA-512) and kubernetes/ (a
// StatefulSet of a batch-layout consumer group). README.md says how to
// use them and what the operator supplies.
//
// None of them is run against a real cluster by the test. What it checks
// is what can be checked without one: every file parses; the Kafka
// settings agree with each other (node ids, quorum voters, listeners and
// the ports they publish, replication); every segmerge command line uses
// a subcommand and flags the segmerge built from this module has, and
// values it parses; every client property given by -X, in a properties
// file or as SEGMERGE_X_* is one segmerge reads; no password sits on a
// command line; the memory limits and stop grace periods fit segmerge's
// --memory and shutdown; and the Dockerfile builds ./cmd/segmerge and
// runs it as a non-root user. Where keytool and openssl are installed it
// also runs sasl-ssl/make-certs.sh and connects segmerge, configured as
// the compose file configures it, to an embedded broker serving those
// certificates over SASL_SSL.
package deploy
