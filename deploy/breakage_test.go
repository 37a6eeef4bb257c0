package deploy

import (
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

// checkFile runs the checks that cover a file on data in place of its
// content (the rest of the examples as they are).
func checkFile(t *testing.T, file string, data []byte) problems {
	t.Helper()
	switch {
	case slices.Contains(composeFiles, file):
		return checkComposeFile(file, data)
	case strings.HasPrefix(file, "deploy/kubernetes/"):
		files := kubeFiles(t)
		files[path.Base(file)] = data
		return checkKubernetes(files)
	case file == "deploy/Dockerfile":
		return checkDockerfile(string(data))
	case file == "deploy/Dockerfile.dockerignore":
		return checkDockerignore(string(data))
	case strings.HasSuffix(file, ".properties"):
		return checkPropertiesFile(file, data)
	case file == "deploy/README.md":
		return checkReadme(string(data))
	}
	t.Fatalf("no check covers %s", file)
	return nil
}

// TestChecksCatchBreakage breaks the examples one way at a time, each as
// someone editing them might, and wants the checks to say so: a check
// that passes whatever the file says would pass here too, and fail.
func TestChecksCatchBreakage(t *testing.T) {
	const (
		plain  = "deploy/docker-compose.yml"
		sasl   = "deploy/docker-compose.sasl-ssl.yml"
		sts    = "deploy/kubernetes/statefulset.yaml"
		cm     = "deploy/kubernetes/configmap.yaml"
		secret = "deploy/kubernetes/secret.example.yaml"
		kust   = "deploy/kubernetes/kustomization.yaml"
		docker = "deploy/Dockerfile"
		ignore = "deploy/Dockerfile.dockerignore"
		props  = "deploy/sasl-ssl/client.properties"
		readme = "deploy/README.md"
	)
	for _, tc := range []struct {
		name, file, old, new, want string
	}{
		// The cluster.
		{"host port moved", plain, "127.0.0.1:9093:9093", "127.0.0.1:9094:9093", "host port 9093 is published by 0"},
		{"node id twice", plain, "KAFKA_NODE_ID: 3", "KAFKA_NODE_ID: 2", "KAFKA_NODE_ID 2 is"},
		{"controller not a voter", plain, "1@kafka-1:29092,2@kafka-2:29092,3@kafka-3:29092", "1@kafka-1:29092,2@kafka-2:29092", "kafka-3 (node 3) is not a quorum voter"},
		{"voter at the wrong port", plain, "3@kafka-3:29092", "3@kafka-3:29093", "quorum voter 3 is kafka-3:29093"},
		{"voter names no node", plain, "3@kafka-3:29092", "4@kafka-3:29092", "quorum voter 4 is no controller's node id"},
		{"advertised host port not published", plain, "EXTERNAL://localhost:9092", "EXTERNAL://localhost:9095", "no published port maps 9095"},
		{"advertised port not listened on", plain, "INTERNAL://kafka-1:19092,", "INTERNAL://kafka-1:19093,", "advertises port 19093"},
		{"advertised host not the container", plain, "INTERNAL://kafka-2:19092", "INTERNAL://kafka-x:19092", "advertises host kafka-x"},
		{"controller listener advertised", plain, "EXTERNAL://localhost:9091\n", "EXTERNAL://localhost:9091,CONTROLLER://kafka-1:29092\n", "controller listener CONTROLLER is advertised"},
		{"inter-broker listener missing", plain, "KAFKA_INTER_BROKER_LISTENER_NAME: INTERNAL", "KAFKA_INTER_BROKER_LISTENER_NAME: BROKER", `inter-broker listener "BROKER" is not in KAFKA_LISTENERS`},
		{"listener without protocol", plain, ",EXTERNAL:PLAINTEXT", "", "listener EXTERNAL has no protocol"},
		{"cluster id differs", plain, "      KAFKA_NODE_ID: 1\n", "      KAFKA_NODE_ID: 1\n      CLUSTER_ID: AAAAAAAAAAAAAAAAAAAAAA\n", "CLUSTER_ID"},
		{"replication 1", plain, "KAFKA_DEFAULT_REPLICATION_FACTOR: 3", "KAFKA_DEFAULT_REPLICATION_FACTOR: 1", `KAFKA_DEFAULT_REPLICATION_FACTOR is "1"`},
		{"transaction log min ISR 1", plain, "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: 2", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: 1", `KAFKA_TRANSACTION_STATE_LOG_MIN_ISR is "1"`},
		{"min ISR missing", plain, "  KAFKA_MIN_INSYNC_REPLICAS: 2\n", "", `KAFKA_MIN_INSYNC_REPLICAS is ""`},

		// segmerge's command lines and settings in compose.
		{"no such subcommand", plain, "- produce", "- producer", `no subcommand "producer"`},
		{"no such flag", plain, "- --interval", "- --intervl", "has no flag --intervl"},
		{"flag of another subcommand", plain, "- --mode", "- --interval", "segmerge consume has no flag --interval"},
		{"value segmerge cannot parse", plain, "- 100ms", "- 100 ms", "does not parse"},
		{"stray argument", plain, "- merged\n", "- merged\n      - extra\n", `stray argument "extra"`},
		{"flag without its value", plain, "      - :9464\n", "", "--metrics-addr needs a value"},
		{"unknown -X key", plain, "      - --memory\n", "      - -X\n      - bogus.key=1\n      - --memory\n", "no such client property"},
		{"password in -X", plain, "      - --memory\n", "      - -X\n      - sasl.password=hunter2\n      - --memory\n", "puts a secret on the command line"},
		{"brokers are the host's", plain, "kafka-1:19092,kafka-2:19092,kafka-3:19092", "localhost:9091", "not reachable from a container"},
		{"brokers nobody advertises", plain, "kafka-1:19092,kafka-2:19092,kafka-3:19092", "kafka-1:9999", "no listener the cluster advertises"},
		{"no brokers", plain, "      - -b\n      - kafka-1:19092,kafka-2:19092,kafka-3:19092\n      - --mode", "      - --mode", "names no brokers"},
		{"out-file off the volume", plain, "- /data/out.jsonl", "- /tmp/out.jsonl", "--out-file /tmp/out.jsonl is on no volume"},
		{"another Dockerfile", plain, "dockerfile: deploy/Dockerfile", "dockerfile: Dockerfile", "not built from deploy/Dockerfile"},
		{"command as a string", plain, "    command:\n      - produce\n", "    command: produce\n      -", "is not a list"},
		{"memory limit below --memory", plain, "mem_limit: 288m", "mem_limit: 200m", "below --memory 256MiB"},
		{"memory limit far above --memory", plain, "mem_limit: 288m", "mem_limit: 2g", "more than a quarter over"},
		{"no memory limit", plain, "    mem_limit: 288m\n", "", `mem_limit ""`},
		{"misspelt key", plain, "mem_limit: 288m", "mem_limt: 288m", "mem_limt is no compose service key"},
		{"misspelt top-level key", plain, "\nvolumes:\n", "\nvolume:\n", "volume is no top-level compose key"},
		{"short stop grace period", plain, "stop_grace_period: 30s", "stop_grace_period: 10s", "stop_grace_period"},
		{"consumer not restarted", plain, "    restart: unless-stopped\n\nvolumes:", "    restart: \"no\"\n\nvolumes:", `restart "no"`},
		{"no consumer", plain, "      - consume\n", "      - produce\n", "no segmerge service runs consume"},

		// The secured variant.
		{"password written into the file", sasl, "    SEGMERGE_X_SSL_CA_LOCATION: /etc/segmerge/ca.crt\n", "    SEGMERGE_X_SSL_CA_LOCATION: /etc/segmerge/ca.crt\n    SEGMERGE_X_SASL_PASSWORD: hunter2\n", "SEGMERGE_X_SASL_PASSWORD is written into the compose file"},
		{"property segmerge does not read", sasl, "SEGMERGE_X_SASL_MECHANISM:", "SEGMERGE_X_SASL_MECHANISMZ:", "does not read this property"},
		{"mechanism the brokers do not offer", sasl, "SEGMERGE_X_SASL_MECHANISM: SCRAM-SHA-512", "SEGMERGE_X_SASL_MECHANISM: SCRAM-SHA-256", "is not among kafka-1's KAFKA_SASL_ENABLED_MECHANISMS"},
		{"mechanism segmerge does not know", sasl, "SEGMERGE_X_SASL_MECHANISM: SCRAM-SHA-512", "SEGMERGE_X_SASL_MECHANISM: SCRAM-SHA-1", "segmerge refuses the client settings"},
		{"protocol the listener does not speak", sasl, "SEGMERGE_X_SECURITY_PROTOCOL: SASL_SSL", "SEGMERGE_X_SECURITY_PROTOCOL: SASL_PLAINTEXT", "speaks SASL_SSL, but segmerge's security.protocol is SASL_PLAINTEXT"},
		{"CA not mounted", sasl, "ca.crt:/etc/segmerge/ca.crt:ro", "ca.crt:/etc/other/ca.crt:ro", "SEGMERGE_X_SSL_CA_LOCATION /etc/segmerge/ca.crt is on no volume"},
		{"listener without TLS", sasl, "INTERNAL:SASL_SSL", "INTERNAL:SASL_PLAINTEXT", "listener INTERNAL is SASL_PLAINTEXT, without TLS"},
		{"env file missing", sasl, "    - ./sasl-ssl/segmerge.env\n  environment:", "    - ./sasl-ssl/nothere.env\n  environment:", "neither it nor deploy/sasl-ssl/nothere.env.example exists"},
		{"password in a one-shot's command", sasl, `entrypoint: ["bash", "/usr/local/bin/create-users.sh"]`, `entrypoint: ["bash", "-c", "kafka-configs.sh --add-config SCRAM-SHA-512=[password=hunter2]"]`, "a password is written into the command line"},
		{"password in a health check", sasl, "--command-config /etc/kafka/secrets/admin-client.properties", "--command-config /etc/kafka/secrets/admin-client.properties --password=x", "a password is written into the command line"},
		{"keystore password in the file", sasl, "      KAFKA_NODE_ID: 2\n", "      KAFKA_NODE_ID: 2\n      KAFKA_SSL_KEYSTORE_PASSWORD: changeit\n", "KAFKA_SSL_KEYSTORE_PASSWORD is written into the compose file"},

		// Kubernetes.
		{"transactional id not the pod name", sts, "- $(POD_NAME)", "- segmerge-merge", "--transactional-id \"segmerge-merge\""},
		{"POD_NAME not the pod name", sts, "fieldPath: metadata.name", "fieldPath: metadata.uid", "--transactional-id \"$(POD_NAME)\""},
		{"args use an unset variable", sts, "- $(POD_NAME)", "- $(MY_POD)", "$(MY_POD), which the container's env does not set"},
		{"memory limit below --memory", sts, "          limits:\n              memory: 512Mi", "          limits:\n              memory: 256Mi", "memory limit 256Mi is below --memory 448MiB"},
		{"memory limit far above --memory", sts, "          limits:\n              memory: 512Mi", "          limits:\n              memory: 4Gi", "more than a quarter over"},
		{"readiness probe on /healthz", sts, "path: /readyz", "path: /healthz", "readinessProbe gets /healthz, want /readyz"},
		{"no liveness probe", sts, "          livenessProbe:\n", "          otherProbe:\n", "no livenessProbe"},
		{"metrics on an undeclared port", sts, "- :9464", "- :9465", "no container port 9465"},
		{"no memory limit", sts, "            limits:\n              memory: 512Mi\n", "", "no memory limit"},
		{"--memory in another form", sts, "- 448MiB", "- 448MB", "whole number of KiB, MiB or GiB"},
		{"short grace period", sts, "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 20", "terminationGracePeriodSeconds"},
		{"password as a value", sts, "              valueFrom:\n                secretKeyRef:\n                  name: segmerge-kafka\n                  key: sasl-password", "              value: hunter2", "SEGMERGE_X_SASL_PASSWORD must come from a Secret"},
		{"password in -X", sts, "            - --memory\n", "            - -X\n            - sasl.password=$(SEGMERGE_X_SASL_PASSWORD)\n            - --memory\n", "puts a secret on the command line"},
		{"Secret lacks the key", secret, "sasl-password: REPLACE-ME", "password: REPLACE-ME", "takes key sasl-password of Secret segmerge-kafka"},
		{"ConfigMap lacks the CA", cm, "  ca.crt: |", "  ca.pem: |", "is key ca.crt of ConfigMap segmerge-ca, which does not hold it"},
		{"CA off the mounts", sts, "value: /etc/segmerge/ca/ca.crt", "value: /etc/ssl/ca.crt", "/etc/ssl/ca.crt is on no volume mount"},
		{"env property segmerge does not read", sts, "name: SEGMERGE_X_SASL_MECHANISM", "name: SEGMERGE_X_SASL_MECHANISMZ", "does not read this property"},
		{"segment layout", sts, "            - batch\n", "            - segment\n", `--layout "segment"`},
		{"no output topic", sts, "            - --output-topic\n            - merged\n", "", "no --output-topic"},
		{"no such flag", sts, "- --from-beginning", "- --from-start", "has no flag --from-start"},
		{"kustomization applies the Secret", kust, "  - statefulset.yaml\n", "  - statefulset.yaml\n  - secret.example.yaml\n", "applies secret.example.yaml"},
		{"kustomization names a missing file", kust, "  - statefulset.yaml\n", "  - statefulset.yml\n", "resource statefulset.yml is not in deploy/kubernetes"},

		// The image.
		{"another package", docker, "./cmd/segmerge \\", "./cmd/segmerg \\", `builds "./cmd/segmerg"`},
		{"root user", docker, "USER 65532:65532", "USER 0:0", "non-root"},
		{"user by name", docker, "USER 65532:65532", "USER nonroot", "numeric"},
		{"no user", docker, "USER 65532:65532\n", "", `USER ""`},
		{"cgo on", docker, "CGO_ENABLED=0 ", "", "without CGO_ENABLED=0"},
		{"no -trimpath", docker, "-trimpath ", "", "without -trimpath"},
		{"another Go", docker, "ARG GO_IMAGE=golang:1.26", "ARG GO_IMAGE=golang:1.25", "not golang:1.26"},
		{"entrypoint elsewhere", docker, `ENTRYPOINT ["/usr/local/bin/segmerge"]`, `ENTRYPOINT ["/segmerge"]`, `ENTRYPOINT runs "/segmerge"`},
		{"entrypoint in shell form", docker, `ENTRYPOINT ["/usr/local/bin/segmerge"]`, `ENTRYPOINT /usr/local/bin/segmerge`, "not in exec form"},
		{"a full distribution", docker, "ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot", "ARG RUNTIME_IMAGE=debian:12", "not distroless static or scratch"},
		{"scratch without CA certificates", docker, "ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot", "ARG RUNTIME_IMAGE=scratch", "without CA certificates"},
		{"the binary not copied", docker, "COPY --from=build /out/segmerge", "COPY --from=build /out/other", "copies no /out/segmerge"},
		{"go.sum ignored", ignore, "deploy\n", "deploy\ngo.sum\n", "leaves go.sum out"},
		{"a package ignored", ignore, "deploy\n", "deploy\nmerge\n", "leaves merge/"},
		{"Go files ignored", ignore, "deploy\n", "deploy\n**/*.go\n", "leaves cmd/segmerge/main.go out"},

		// The host's properties file.
		{"property segmerge does not read", props, "sasl.mechanism=", "sasl.mechanismz=", "segmerge -F refuses it"},
		{"README: no such flag", readme, "-g host -e --from-beginning -c 5", "-g host -e --from-start -c 5", "has no flag --from-start"},
		{"README: verify without its flag", readme, "verify --input-log /data/input.jsonl", "verify /data/input.jsonl", `stray argument "/data/input.jsonl"`},
		{"README: -F file missing", readme, "-F deploy/sasl-ssl/client.properties", "-F deploy/client.properties", "-F deploy/client.properties"},
		{"password in the file", props, "sasl.username=segmerge\n", "sasl.username=segmerge\nsasl.password=hunter2\n", "sets the secret sasl.password"},
	} {
		t.Run(tc.name+" in "+path.Base(tc.file), func(t *testing.T) {
			t.Parallel()
			data := string(readFile(t, tc.file))
			if !strings.Contains(data, tc.old) {
				t.Fatalf("%s no longer holds %q: update this case", tc.file, tc.old)
			}
			ps := checkFile(t, tc.file, []byte(strings.Replace(data, tc.old, tc.new, 1)))
			if !slices.ContainsFunc(ps, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("want a problem with %q, got %d:\n%s", tc.want, len(ps), strings.Join(ps, "\n"))
			}
		})
	}
}

// TestCheckIgnored wants a password file that git does not ignore found.
func TestCheckIgnored(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	if ps := checkIgnored("test", "deploy/sasl-ssl/segmerge.env"); len(ps) > 0 {
		t.Errorf("segmerge.env is ignored, yet: %v", ps)
	}
	if ps := checkIgnored("test", "deploy/sasl-ssl/segmerge.env.example"); len(ps) == 0 {
		t.Error("segmerge.env.example is not ignored, yet no problem")
	}
}
