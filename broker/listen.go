package broker

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync"
)

// listener is a broker's listener: its Addr is the address the broker
// advertises (kfake advertises its listener's Addr), its connections are
// TLS when tls is set, and, with sasl, show librdkafka the SASL handshake
// (saslConn).
type listener struct {
	net.Listener
	addr net.Addr
	tls  *tls.Config
	sasl bool
}

// Addr is the address clients are told to connect to.
func (l *listener) Addr() net.Addr { return l.addr }

// Accept waits for the next connection; its TLS handshake happens on its
// first read or write, in the broker's goroutine for it.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.tls != nil {
		c = tls.Server(c, l.tls)
	}
	if l.sasl {
		c = &saslConn{Conn: c, asked: map[int32]int16{}}
	}
	return c, nil
}

// Kafka API keys and the error code saslConn reads.
const (
	keySASLHandshake = 17
	keyAPIVersions   = 18
)

// saslConn is a broker's connection that advertises SaslHandshake from
// version 0 in the ApiVersions responses it carries, where kfake
// advertises it from version 1 (17_sasl_handshake.go: regKey(17, 1, 1)).
// librdkafka (kcat, confluent-kafka) does SASL only with a broker that
// lists version 0 (its RD_KAFKA_FEATURE_SASL_HANDSHAKE), and refused
// every mechanism: "SASL Handshake not supported by broker". It then
// sends version 1, which kfake serves; a client that sends version 0 is
// refused by kfake, as before.
//
// It reads each request's header as it passes, to know which response
// answers an ApiVersions request and at which version, and changes that
// one int16 in the response, which keeps its length. kfake reads a
// connection's requests on one goroutine and writes each response in one
// Write, one at a time.
type saslConn struct {
	net.Conn
	head []byte // the size and header of the request being read, up to 12 bytes
	skip int    // bytes of the request being read past its header

	mu    sync.Mutex
	asked map[int32]int16 // ApiVersions requests read and not answered: version by correlation id
}

func (c *saslConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for b := p[:n]; len(b) > 0; {
		if c.skip > 0 {
			k := min(c.skip, len(b))
			c.skip -= k
			b = b[k:]
			continue
		}
		k := min(12-len(c.head), len(b))
		c.head = append(c.head, b[:k]...)
		b = b[k:]
		if len(c.head) < 12 {
			break
		}
		// size int32, then the header: api key int16, version
		// int16, correlation id int32.
		size := int(int32(binary.BigEndian.Uint32(c.head)))
		if int16(binary.BigEndian.Uint16(c.head[4:])) == keyAPIVersions {
			c.mu.Lock()
			c.asked[int32(binary.BigEndian.Uint32(c.head[8:]))] = int16(binary.BigEndian.Uint16(c.head[6:]))
			c.mu.Unlock()
		}
		c.skip = max(size-8, 0)
		c.head = c.head[:0]
	}
	return n, err
}

func (c *saslConn) Write(p []byte) (int, error) {
	if len(p) >= 8 {
		corr := int32(binary.BigEndian.Uint32(p[4:]))
		c.mu.Lock()
		version, ok := c.asked[corr]
		delete(c.asked, corr)
		c.mu.Unlock()
		if ok {
			if at := handshakeMin(p[8:], version); at >= 0 {
				q := append([]byte(nil), p...)
				binary.BigEndian.PutUint16(q[8+at:], 0)
				_, err := c.Conn.Write(q)
				if err != nil {
					return 0, err
				}
				return len(p), nil
			}
		}
	}
	return c.Conn.Write(p)
}

// handshakeMin returns where, in the body of an ApiVersions response of
// version v (its header is only the correlation id, at every version),
// SaslHandshake's min version is when that is 1; -1 otherwise, or if the
// body does not parse. A response with an error (UNSUPPORTED_VERSION
// answers a version too high, at version 0) is left alone.
func handshakeMin(body []byte, v int16) int {
	if len(body) < 2 || binary.BigEndian.Uint16(body) != 0 {
		return -1
	}
	at := 2
	var n int
	if v >= 3 { // flexible: a compact array, entries end with tagged fields
		u, k := uvarint(body, at)
		if k <= 0 || u == 0 {
			return -1
		}
		n, at = int(u-1), at+k
	} else {
		if len(body) < at+4 {
			return -1
		}
		n, at = int(int32(binary.BigEndian.Uint32(body[at:]))), at+4
	}
	for range n {
		if len(body) < at+6 {
			return -1
		}
		key, minV := int16(binary.BigEndian.Uint16(body[at:])), int16(binary.BigEndian.Uint16(body[at+2:]))
		if key == keySASLHandshake {
			if minV != 1 {
				return -1
			}
			return at + 2
		}
		at += 6
		if v >= 3 {
			tags, k := uvarint(body, at)
			if k <= 0 {
				return -1
			}
			at += k
			for range tags {
				_, k1 := uvarint(body, at)
				if k1 <= 0 {
					return -1
				}
				size, k2 := uvarint(body, at+k1)
				if k2 <= 0 || size > uint64(len(body)) {
					return -1
				}
				at += k1 + k2 + int(size)
			}
		}
	}
	return -1
}

// uvarint is binary.Uvarint of body from at; its length is 0 past the end.
func uvarint(body []byte, at int) (uint64, int) {
	if at >= len(body) {
		return 0, 0
	}
	return binary.Uvarint(body[at:])
}
