// Package interop holds tests that drive segmerge with Kafka clients nobody
// here wrote: kcat and librdkafka's Python binding (confluent_kafka), against
// the embedded cluster, talking the real protocol. It has no code of its own
// and must never be imported.
//
// The tools are Debian packages (kcat, python3-confluent-kafka; .ci/run
// installs them). Without them the tests skip, loudly, except under CI=true,
// where they fail.
package interop
