package broker

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/segmerge/segmerge/internal/setting"
)

func TestValidate(t *testing.T) {
	scram := []User{{MechanismScramSHA512, "admin", "secret"}}
	plain := []User{{MechanismPlain, "admin", "secret"}}
	tests := []struct {
		name  string
		cfg   Config
		field string // "" for a Config that is valid
		want  string
	}{
		{"default", Config{}, "", ""},
		{"free ports", Config{Listen: threeFree}, "", ""},
		{"ipv6 loopback", Config{Listen: []string{"[::1]:0"}}, "", ""},
		{"port only", Config{Listen: []string{"39091"}}, "Listen", `invalid Listen "39091": needs host:port, as in 127.0.0.1:39091`},
		{"no port", Config{Listen: []string{"localhost"}}, "Listen", `needs host:port, as in 127.0.0.1:9091`},
		{"bad port", Config{Listen: []string{"127.0.0.1:99999"}}, "Listen", `the port must be a number from 0 to 65535`},
		{"localhost", Config{Listen: []string{"localhost:0", "127.0.0.2:0"}}, "", ""},
		{"wildcard", Config{Listen: []string{"0.0.0.0:0"}, SASL: scram}, "Listen", `binds every interface, and clients cannot connect to a wildcard address: give Advertise HOST`},
		{"no host", Config{Listen: []string{":0"}, SASL: scram}, "Listen", `binds every interface`},
		{"ipv6 wildcard", Config{Listen: []string{"[::]:0"}, SASL: scram}, "Listen", `binds every interface`},
		{"advertised", Config{Listen: []string{"0.0.0.0:0", "0.0.0.0:1"}, Advertise: []string{"kafka.example"}, SASL: scram}, "", ""},
		{"advertised each", Config{Listen: []string{"0.0.0.0:0", "0.0.0.0:1"}, Advertise: []string{"a.example:9091", "[::1]"}, SASL: scram}, "", ""},
		{"advertise ipv6", Config{Advertise: []string{"::1"}}, "", ""},
		{"open", Config{Listen: []string{"0.0.0.0:0"}, Advertise: []string{"kafka.example"}}, "Listen", `serves everyone who can reach it, with no authentication: give SASL users, or Insecure`},
		{"open interface", Config{Listen: []string{"192.0.2.2:0"}}, "Listen", `serves everyone`},
		{"open name", Config{Listen: []string{"kafka.example:0"}}, "Listen", `serves everyone`},
		{"open, insecure", Config{Listen: []string{"0.0.0.0:0"}, Advertise: []string{"kafka.example"}, Insecure: true}, "", ""},
		{"plain in clear", Config{Listen: []string{"192.0.2.2:0"}, SASL: plain}, "Listen", `would receive PLAIN passwords in clear text`},
		{"plain over TLS", Config{Listen: []string{"192.0.2.2:0"}, SASL: plain, TLS: true, DataDir: "d"}, "", ""},
		{"plain in clear, insecure", Config{Listen: []string{"192.0.2.2:0"}, SASL: plain, Insecure: true}, "", ""},
		{"plain on loopback", Config{SASL: plain}, "", ""},
		{"advertise wildcard", Config{Advertise: []string{"::"}}, "Advertise", `is a wildcard address`},
		{"advertise one port", Config{Advertise: []string{"a.example:9091"}}, "Advertise", `names one port for 3 brokers`},
		{"advertise too few", Config{Advertise: []string{"a", "b"}}, "Advertise", `names 2 addresses for 3 brokers`},
		{"advertise port 0", Config{Listen: []string{"127.0.0.1:0"}, Advertise: []string{"a:0"}}, "Advertise", `the port must be a number from 1 to 65535`},
		{"advertise no host", Config{Listen: []string{"127.0.0.1:0"}, Advertise: []string{":9091"}}, "Advertise", `names no host`},
		{"mechanism", Config{SASL: []User{{"GSSAPI", "u", "secret"}}}, "SASL", `invalid SASL: user 1's mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{"no name", Config{SASL: []User{{MechanismPlain, "", "secret"}}}, "SASL", `the user name is empty`},
		{"no password", Config{SASL: []User{{MechanismPlain, "u", ""}}}, "SASL", `invalid SASL "PLAIN:u": the password is empty`},
		{"twice", Config{SASL: []User{{MechanismPlain, "u", "a"}, {MechanismScramSHA256, "u", "b"}, {MechanismPlain, "u", "c"}}}, "SASL", `invalid SASL "PLAIN:u": the user is given twice`},
		{"acls alone", Config{ACLs: true}, "ACLs", `invalid ACLs: needs SASL users`},
		{"tls in memory", Config{TLS: true}, "TLS", `with no TLSCert needs a DataDir`},
		{"tls given in memory", Config{TLS: true, TLSCert: "c", TLSKey: "k"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var se *setting.Error
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tt.field == "":
			case !errors.As(err, &se) || se.Field != tt.field || !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate: %v, want a %s error with %q", err, tt.field, tt.want)
			case strings.Contains(err.Error(), "secret"):
				t.Fatalf("Validate: %v holds a password", err)
			}
		})
	}
}

// A port in use is the Listen entry's fault, named so that the command
// line can name its flag.
func TestListenInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := Start(Config{Listen: []string{"127.0.0.1:0", l.Addr().String()}})
	if err == nil {
		c.Close()
		t.Fatal("started on a port in use")
	}
	var se *setting.Error
	if !errors.As(err, &se) || se.Field != "Listen" || !strings.Contains(err.Error(), l.Addr().String()+`": the address is in use`) {
		t.Fatalf("Start: %v", err)
	}
}

// Printing a Config, with any verb, never shows a password.
func TestUserHidesPassword(t *testing.T) {
	cfg := Config{SASL: []User{{MechanismScramSHA512, "admin", "secret"}}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, cfg); strings.Contains(s, "secret") || !strings.Contains(s, "SCRAM-SHA-512:admin") {
			t.Errorf("%s: %s", verb, s)
		}
	}
}
