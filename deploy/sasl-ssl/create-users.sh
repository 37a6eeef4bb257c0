#!/usr/bin/env bash
# create-users.sh: gives segmerge's user a SCRAM-SHA-512 credential. The
# kafka-users service of docker-compose.sasl-ssl.yml runs it in the Kafka
# image once the brokers are healthy, with segmerge.env in its
# environment. It talks to the brokers' mutual TLS listener (BROKER,
# port 19093) as the admin certificate from make-certs.sh, the one way in
# before any SCRAM user exists. Running it again sets the password anew.
set -euo pipefail

user=${SEGMERGE_X_SASL_USERNAME:?set SEGMERGE_X_SASL_USERNAME in sasl-ssl/segmerge.env}
pass=${SEGMERGE_X_SASL_PASSWORD:?set SEGMERGE_X_SASL_PASSWORD in sasl-ssl/segmerge.env}
# kafka-configs reads the credential as a list: these would cut it short.
if [[ $pass == *[],[=]* ]]; then
  echo "create-users.sh: SEGMERGE_X_SASL_PASSWORD must not hold , [ ] or =" >&2
  exit 1
fi

# The password is on kafka-configs' command line for as long as it runs,
# visible in this one-shot container's process list only.
/opt/kafka/bin/kafka-configs.sh \
  --bootstrap-server kafka-1:19093,kafka-2:19093,kafka-3:19093 \
  --command-config /etc/kafka/secrets/admin-client.properties \
  --alter --entity-type users --entity-name "$user" \
  --add-config "SCRAM-SHA-512=[password=$pass]"
echo "create-users.sh: SCRAM-SHA-512 credential set for $user"
