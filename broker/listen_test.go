package broker

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersions is an ApiVersions response of version v with SaslHandshake
// at versions min..1 among other keys, the entries tagged at flexible
// versions, encoded as kfake writes it: size, correlation id, body.
func apiVersions(v int16, corr int32, min int16) []byte {
	resp := kmsg.NewApiVersionsResponse()
	resp.Version = v
	for _, k := range [][3]int16{{0, 0, 11}, {keySASLHandshake, min, 1}, {keyAPIVersions, 0, 4}, {36, 0, 2}} {
		key := kmsg.NewApiVersionsResponseApiKey()
		key.ApiKey, key.MinVersion, key.MaxVersion = k[0], k[1], k[2]
		if v >= 3 {
			key.UnknownTags.Set(7, []byte("tag"))
		}
		resp.ApiKeys = append(resp.ApiKeys, key)
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 4), uint32(corr))
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// versions decodes a response apiVersions made and returns SaslHandshake's
// min version, and whether every other key kept its range.
func versions(t *testing.T, b []byte, v int16) (int16, bool) {
	t.Helper()
	resp := kmsg.NewApiVersionsResponse()
	resp.Version = v
	if err := resp.ReadFrom(b[8:]); err != nil {
		t.Fatalf("v%d: %v", v, err)
	}
	var min int16 = -1
	others := len(resp.ApiKeys) == 4
	for _, k := range resp.ApiKeys {
		switch k.ApiKey {
		case keySASLHandshake:
			min = k.MinVersion
		case 0:
			others = others && k.MinVersion == 0 && k.MaxVersion == 11
		case keyAPIVersions:
			others = others && k.MinVersion == 0 && k.MaxVersion == 4
		}
	}
	return min, others
}

// handshakeMin finds SaslHandshake's min version in every version of the
// response, past tagged fields, and nothing where there is nothing to
// change.
func TestHandshakeMin(t *testing.T) {
	for v := range int16(5) {
		b := apiVersions(v, 1, 1)
		at := handshakeMin(b[8:], v)
		if at < 0 {
			t.Fatalf("v%d: SaslHandshake not found", v)
		}
		binary.BigEndian.PutUint16(b[8+at:], 0)
		if min, others := versions(t, b, v); min != 0 || !others {
			t.Fatalf("v%d: SaslHandshake from %d, the other keys kept: %v", v, min, others)
		}
		if at := handshakeMin(apiVersions(v, 1, 0)[8:], v); at != -1 {
			t.Errorf("v%d: a min version of 0 found at %d", v, at)
		}
		failed := apiVersions(v, 1, 1)
		binary.BigEndian.PutUint16(failed[8:], 35) // UNSUPPORTED_VERSION
		if at := handshakeMin(failed[8:], v); at != -1 {
			t.Errorf("v%d: found in an error response", v)
		}
		for n := range len(b) - 8 { // never a panic on a short body
			handshakeMin(b[8:8+n], v)
		}
	}
}

// A saslConn changes the response to an ApiVersions request, however the
// request's bytes arrive (one by one, or several requests in one read),
// and no other response.
func TestSASLConn(t *testing.T) {
	request := func(key, v int16, corr int32) []byte {
		b := make([]byte, 4, 32)
		b = binary.BigEndian.AppendUint16(b, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(v))
		b = binary.BigEndian.AppendUint32(b, uint32(corr))
		b = append(b, 0, 3, 'c', 'l', 'i') // a client id, as a body would follow
		binary.BigEndian.PutUint32(b, uint32(len(b)-4))
		return b
	}
	var requests []byte
	for _, r := range [][]byte{request(3, 12, 7), request(keyAPIVersions, 3, 8), request(keyAPIVersions, 1, 9)} {
		requests = append(requests, r...)
	}
	for _, chunk := range []int{1, 5, len(requests)} {
		client, server := net.Pipe()
		sc := &saslConn{Conn: server, asked: map[int32]int16{}}
		go func() {
			for b := requests; len(b) > 0; b = b[min(chunk, len(b)):] {
				if _, err := client.Write(b[:min(chunk, len(b))]); err != nil {
					return
				}
			}
		}()
		buf := make([]byte, chunk)
		for read := 0; read < len(requests); {
			n, err := sc.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			read += n
		}
		for _, tc := range []struct {
			corr int32
			v    int16
			want int16
		}{{7, 3, 1}, {8, 3, 0}, {9, 1, 0}, {8, 3, 1}} { // 7 is no ApiVersions; 8 is answered once
			go func() {
				if _, err := sc.Write(apiVersions(tc.v, tc.corr, 1)); err != nil {
					t.Error(err)
				}
			}()
			b := make([]byte, len(apiVersions(tc.v, tc.corr, 1)))
			if _, err := io.ReadFull(client, b); err != nil {
				t.Fatal(err)
			}
			if min, others := versions(t, b, tc.v); min != tc.want || !others {
				t.Errorf("reads of %d bytes, response %d: SaslHandshake from %d, want %d; the other keys kept: %v", chunk, tc.corr, min, tc.want, others)
			}
		}
		client.Close()
		sc.Close()
	}
}

// A cluster with SASL users advertises SaslHandshake from version 0, one
// without from kfake's 1.
func TestClusterAdvertisesHandshakeFromZero(t *testing.T) {
	admin := User{MechanismScramSHA256, "admin", "secret"}
	for _, cfg := range []Config{{Listen: threeFree}, {Listen: threeFree, SASL: []User{admin}}} {
		c, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		opts := []kgo.Opt{kgo.SeedBrokers(c.Addrs()...)}
		if len(cfg.SASL) > 0 {
			opts = append(opts, kgo.SASL(mechanism(admin)))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		want := int16(1)
		if len(cfg.SASL) > 0 {
			want = 0
		}
		for _, k := range resp.ApiKeys {
			if k.ApiKey == keySASLHandshake && k.MinVersion != want {
				t.Errorf("with %d users: SaslHandshake from version %d, want %d", len(cfg.SASL), k.MinVersion, want)
			}
		}
	}
}
