#!/usr/bin/env bash
# make-certs.sh DIR: a private CA and the TLS material the SASL_SSL
# example (docker-compose.sasl-ssl.yml) mounts, written to DIR (default:
# secrets/ beside this script). It needs keytool (a JDK or JRE 11 or
# later); without one, run it in the Kafka image:
#
#   docker run --rm --user "$(id -u)" -v "$PWD/deploy/sasl-ssl:/w" -w /w \
#     --entrypoint bash apache/kafka:4.1.0 make-certs.sh secrets
#
# DIR receives:
#   ca.crt                    the CA (PEM): segmerge's ssl.ca.location
#   kafka-N.keystore.p12      broker N's key and certificate, for the host
#                             names kafka-N (the containers), localhost and
#                             127.0.0.1 (the host's ports 9091-9093)
#   admin.keystore.p12        a client certificate for the brokers' mutual
#                             TLS listener: create-users.sh and the health
#                             checks use it
#   kafka.truststore.p12      the CA, for the brokers
#   keystore_creds, key_creds, truststore_creds
#                             the stores' password, as the Kafka image reads it
#   admin-client.properties   the admin's client settings, with that password
#
# The CA's private key is deleted once the certificates are signed: run
# the script again (into an empty DIR) for a new set. Everything in DIR
# but ca.crt is secret. The files are made readable by all, because the
# containers run as other users (Kafka as UID 1000); on a shared host
# give them to those users instead.
set -euo pipefail

dir=${1:-$(dirname "$0")/secrets}
days=825
brokers=(kafka-1 kafka-2 kafka-3)

if [[ -e $dir/ca.crt ]]; then
  echo "make-certs.sh: $dir already holds certificates; remove them first" >&2
  exit 1
fi
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One random password for every store, passed to keytool through the
# environment so that it never shows in a process list. It holds no '=':
# the Kafka image drops an environment value that does.
STOREPASS=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
export STOREPASS
kt() { keytool -noprompt "$@"; }

kt -genkeypair -alias ca -dname "CN=segmerge example CA" \
  -keyalg EC -groupname secp256r1 -validity "$days" -ext bc:c \
  -keystore "$tmp/ca.p12" -storetype PKCS12 -storepass:env STOREPASS
kt -exportcert -rfc -alias ca -keystore "$tmp/ca.p12" -storepass:env STOREPASS \
  -file "$dir/ca.crt"
kt -importcert -alias ca -file "$dir/ca.crt" \
  -keystore "$dir/kafka.truststore.p12" -storetype PKCS12 -storepass:env STOREPASS

# keystore NAME CN EKU [SAN]: a key pair signed by the CA, in NAME.keystore.p12.
keystore() {
  local name=$1 cn=$2 eku=$3 san=${4:-} ks=$dir/$1.keystore.p12
  local ext=(-ext "EKU=$eku")
  [[ -n $san ]] && ext+=(-ext "SAN=$san")
  kt -genkeypair -alias "$name" -dname "CN=$cn" -keyalg EC -groupname secp256r1 \
    -validity "$days" -keystore "$ks" -storetype PKCS12 -storepass:env STOREPASS
  kt -certreq -alias "$name" -keystore "$ks" -storepass:env STOREPASS -file "$tmp/$name.csr"
  kt -gencert -alias ca -keystore "$tmp/ca.p12" -storepass:env STOREPASS \
    -infile "$tmp/$name.csr" -outfile "$tmp/$name.crt" -rfc -validity "$days" "${ext[@]}"
  kt -importcert -alias ca -file "$dir/ca.crt" -keystore "$ks" -storepass:env STOREPASS
  kt -importcert -alias "$name" -file "$tmp/$name.crt" -keystore "$ks" -storepass:env STOREPASS
}
for b in "${brokers[@]}"; do
  keystore "$b" "$b" serverAuth,clientAuth "dns:$b,dns:localhost,ip:127.0.0.1"
done
keystore admin kafka-admin clientAuth

for f in keystore_creds key_creds truststore_creds; do
  printf '%s' "$STOREPASS" > "$dir/$f"
done
# The paths are where docker-compose.sasl-ssl.yml mounts DIR.
cat > "$dir/admin-client.properties" <<PROPS
security.protocol=SSL
ssl.keystore.type=PKCS12
ssl.keystore.location=/etc/kafka/secrets/admin.keystore.p12
ssl.keystore.password=$STOREPASS
ssl.key.password=$STOREPASS
ssl.truststore.type=PKCS12
ssl.truststore.location=/etc/kafka/secrets/kafka.truststore.p12
ssl.truststore.password=$STOREPASS
PROPS
chmod 0644 "$dir"/*
echo "make-certs.sh: wrote $dir" >&2
