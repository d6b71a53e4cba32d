package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// server is a TCP listener inside a namespace that accepts and closes
// every connection: a connection that completes proves the SYN got through
// the firewall.
type server struct {
	ln   net.Listener
	port uint16
}

// listen opens a dual-stack TCP listener inside namespace ns; t.Cleanup
// closes it. Close it earlier (stop) before deleting the namespace.
func listen(t *testing.T, ns string) *server {
	t.Helper()
	var ln net.Listener
	err := inNamespace(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", ":0") // the socket belongs to ns for good
		return err
	})
	if err != nil {
		t.Fatalf("listening in %s: %v", ns, err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by stop or cleanup
			}
			c.Close() //nolint:errcheck // the handshake was all we wanted
		}
	}()
	s := &server{ln: ln, port: uint16(ln.Addr().(*net.TCPAddr).Port)}
	t.Cleanup(s.stop)
	return s
}

// stop closes the listener; closing twice is harmless.
func (s *server) stop() {
	s.ln.Close() //nolint:errcheck // a second close reports an error we do not care about
}

// errDropped says a connection attempt timed out: its SYN was dropped.
var errDropped = errors.New("connection attempt timed out (dropped)")

// dial tries one TCP connection from src, inside namespace ns, to dst:port
// within timeout. It returns nil when the handshake completed, errDropped
// when it timed out, and any other error as it is.
func dial(ns string, src, dst netip.Addr, port uint16, timeout time.Duration) error {
	return inNamespace(ns, func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: timeout}
		c, err := d.DialContext(context.Background(), "tcp", netip.AddrPortFrom(dst, port).String())
		if err == nil {
			return c.Close()
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return errDropped
		}
		return fmt.Errorf("connecting from %s to %s: %w", src, dst, err)
	})
}
