// Package e2e holds end-to-end tests: the embedded cluster, producer,
// consumer and verify together, talking the real Kafka protocol.
package e2e
