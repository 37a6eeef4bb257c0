package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/segmerge/segmerge/internal/kafka"
)

// newClientHelp is the help topic 'segmerge help client': the client
// properties every command that talks to Kafka takes.
func newClientHelp() *cobra.Command {
	var props strings.Builder
	for _, p := range kafka.Known {
		fmt.Fprintf(&props, "  %-38s %s\n", p.Key, p.Help)
	}
	return &cobra.Command{
		Use:   "client",
		Short: "How to reach a secured or managed cluster: -X, -F, SEGMERGE_X_*",
		Long: `Every command that talks to Kafka (produce, consume, verify, bench -b)
takes client properties by librdkafka's (and the Java client's) names, as kcat
-X and -F and the kafka-*.sh --command-config files take them:

  -X key=value          repeatable
  -F, --config FILE     key=value lines, # comments
  SEGMERGE_X_<KEY>      the key with dots as underscores: SEGMERGE_X_SASL_PASSWORD

A setting given in several places is taken from the first of: a flag (-b),
-X, the environment (SEGMERGE_BROKERS and KAFKA_BROKERS are bootstrap.servers
there), the file. An unknown key, or a value of the wrong form, is bad usage
(exit 2) naming the key and where it was given; a password never appears in a
message. Keep secrets out of command lines (other users see them in ps): put
them in the environment or in a file only you can read.

Properties:
` + props.String() + `
sasl.mechanisms, metadata.broker.list and compression.codec (librdkafka's
spellings) and fetch.max.wait.ms (the Java client's) are read too. The
fetch sizes, given, replace the shares --memory sets.`,
		Example: `  # Confluent Cloud, Aiven, MSK with SCRAM: SASL over TLS
  export SEGMERGE_X_SASL_PASSWORD=...
  segmerge consume -b broker.example.com:9092 -X security.protocol=SASL_SSL \
    -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=merger --output-topic merged

  # the same from a file, as kcat -F reads it
  segmerge consume -F client.properties --output-topic merged

  # segmerge broker --tls --sasl SCRAM-SHA-512:admin:PASSWORD prints what to set
  segmerge produce -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 \
    -X sasl.username=admin -X ssl.ca.location=data/broker/tls/ca.pem --batches 10`,
	}
}
