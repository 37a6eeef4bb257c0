package broker

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/segmerge/segmerge/internal/setting"
)

func TestValidate(t *testing.T) {
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
