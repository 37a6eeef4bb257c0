package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Where the brokers come from, first found wins: -b, -X bootstrap.servers,
// $SEGMERGE_BROKERS, $KAFKA_BROKERS, $SEGMERGE_X_BOOTSTRAP_SERVERS, the
// -F file, the embedded cluster's default.
func TestClientBrokersPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "client.properties")
	os.WriteFile(file, []byte("# a kcat -F file\nbootstrap.servers=file:1\nclient.id = from-file\n"), 0o600)
	for _, tc := range []struct {
		name string
		c    clientFlags
		env  map[string]string
		want string
	}{
		{"default", clientFlags{}, nil, "127.0.0.1:9091,127.0.0.1:9092,127.0.0.1:9093"},
		{"file", clientFlags{file: file}, nil, "file:1"},
		{"SEGMERGE_X_ over the file", clientFlags{file: file}, map[string]string{"SEGMERGE_X_BOOTSTRAP_SERVERS": "x:1"}, "x:1"},
		{"KAFKA_BROKERS over the file", clientFlags{file: file}, map[string]string{"KAFKA_BROKERS": "k:1"}, "k:1"},
		{"SEGMERGE_BROKERS over KAFKA_BROKERS", clientFlags{}, map[string]string{"KAFKA_BROKERS": "k:1", "SEGMERGE_BROKERS": "s:1, s:2"}, "s:1,s:2"},
		{"-X over the environment", clientFlags{x: []string{"bootstrap.servers=p:1"}}, map[string]string{"SEGMERGE_BROKERS": "s:1"}, "p:1"},
		{"-b over -X", clientFlags{brokers: "f:1", x: []string{"bootstrap.servers=p:1"}}, nil, "f:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"SEGMERGE_BROKERS", "KAFKA_BROKERS", "SEGMERGE_X_BOOTSTRAP_SERVERS"} {
				t.Setenv(k, tc.env[k])
				if tc.env[k] == "" {
					os.Unsetenv(k)
				}
			}
			got, _, err := tc.c.resolve()
			if err != nil || strings.Join(got, ",") != tc.want {
				t.Fatalf("brokers %v, err %v; want %s", got, err, tc.want)
			}
		})
	}
}

// A property segmerge cannot take is bad usage naming the key and where it
// was given, and never shows a secret.
func TestClientPropertyErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.properties")
	os.WriteFile(bad, []byte("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=u\nsasl.password=hunter2\nsasl.kerberos.service.name=kafka\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown -X key", []string{"-X", "acks=all"}, nil, `invalid client property acks (-X): segmerge does not read this property`},
		{"not key=value", []string{"-X", "sasl.password"}, nil, `invalid -X "sasl.password": must be key=value`},
		{"unknown key in a file", []string{"-F", bad}, nil, "invalid client property sasl.kerberos.service.name (" + bad + " line 5)"},
		{"unknown environment key", nil, map[string]string{"SEGMERGE_X_ACKS": "all"}, "invalid client property acks ($SEGMERGE_X_ACKS)"},
		{"protocol", []string{"-X", "security.protocol=TLS"}, nil, `invalid client property security.protocol="TLS" (-X): must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL`},
		{"mechanism", []string{"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=GSSAPI", "-X", "sasl.username=u", "-X", "sasl.password=hunter2"}, nil, `sasl.mechanism="GSSAPI" (-X): must be PLAIN`},
		{"mechanism before credentials", []string{"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=GSSAPI"}, nil, `sasl.mechanism="GSSAPI" (-X): must be PLAIN`},
		{"SASL setting without SASL", []string{"-X", "sasl.password=hunter2"}, nil, "invalid client property sasl.password (-X): is set, but security.protocol is PLAINTEXT"},
		{"a missing CA file", []string{"-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + filepath.Join(dir, "nope.pem")}, nil, "ssl.ca.location"},
		{"a tunable", []string{"-X", "fetch.max.bytes=lots"}, nil, `fetch.max.bytes="lots" (-X): must be a whole number`},
		{"a codec", []string{"-X", "compression.codec=brotli"}, nil, `compression.type="brotli" (-X): must be none, gzip, snappy, lz4 or zstd`},
		{"the secret in the environment is kept", []string{"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=SCRAM-SHA-256"}, map[string]string{"SEGMERGE_X_SASL_USERNAME": "u"}, "needs sasl.username and sasl.password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := run(append([]string{"verify", "--input-log", "x", "--output-topic", "t"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Fatalf("the password is in the message: %q", stderr)
			}
		})
	}
}
