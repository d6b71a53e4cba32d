package nftstore

import (
	"fmt"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/recidivist/recidivist/ipsetstore"
)

// Store is the nftables Store. It is safe for concurrent use; calls are
// serialized. Each request opens a netlink socket in the network
// namespace of the thread that first used the store (as
// ipsetstore.NetlinkStore's sockets stay where they were opened), without
// setns when that is the process's own namespace.
type Store struct {
	cfg    ipsetstore.Config
	chains []baseChain

	mu sync.Mutex // guards c, and serializes every call
	c  *nftables.Conn
	ns int // fd of the network namespace; -1 before first use
	// own: ns is the namespace the process started in, where every
	// thread of a daemon is; sockets are then opened without setns (see
	// nsFd).
	own bool
}

var (
	_ ipsetstore.Store   = (*Store)(nil)
	_ ipsetstore.Counter = (*Store)(nil)
)

// New validates cfg and returns a store for it. It touches nothing. The
// table is named after cfg.SetName; cfg.Chains must be INPUT, FORWARD or
// DOCKER-USER. Errors match ipsetstore.ErrBadConfig and name the key.
func New(cfg ipsetstore.Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	chains, err := baseChains(cfg.Chains)
	if err != nil {
		return nil, err
	}
	cfg.Chains = append([]string(nil), cfg.Chains...)
	return &Store{cfg: cfg, chains: chains, ns: -1}, nil
}

// Close releases the namespace it holds; the store may be used again
// after it, in the namespace of the thread that calls next.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c = nil
	if s.ns < 0 {
		return nil
	}
	err := unix.Close(s.ns)
	s.ns = -1
	return err
}

// Table returns the name of the table, "inet " + set-name.
func (s *Store) Table() string { return "inet " + s.cfg.SetName }

// open returns the lasting connection. Callers hold s.mu.
func (s *Store) open() (*nftables.Conn, error) {
	if s.c != nil {
		return s.c, nil
	}
	// The namespace is the calling thread's at first use, held open so
	// that later calls from any thread land there too.
	if s.ns < 0 {
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening this thread's network namespace: %w", err)
		}
		s.ns = fd
		s.own = isStartNS(fd)
	}
	// Not a lasting connection: each request gets a socket of its own, so
	// that an answer left over from one request (v0.3.0 reads dumps and
	// acknowledgements loosely) can never be taken for the next one's.
	c, err := nftables.New(nftables.WithNetNSFd(s.nsFd()), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket for nftables: %w", kernelErr(err))
	}
	s.c = c
	return c, nil
}

// nsFd is the namespace argument for a new socket: 0 (none: where the
// calling thread is) when the store's namespace is the process's own, else
// the held namespace. A socket opened in a given namespace costs a setns,
// which needs CAP_SYS_ADMIN, and the service's sandbox grants only
// CAP_NET_ADMIN and CAP_NET_RAW; only a test moves a thread of its own into
// another namespace. Callers hold s.mu and have opened the store.
func (s *Store) nsFd() int {
	if s.own {
		return 0
	}
	return s.ns
}

// startNS is the network namespace the process started in, read while
// package initialization runs on the main thread, before anything can have
// moved a thread elsewhere (/proc/self/ns/net names the main thread's
// namespace, which a test that locked its goroutine onto the main thread
// may since have changed). ok is false when it could not be read.
var startNS = func() (st struct {
	dev, ino uint64
	ok       bool
}) {
	var s unix.Stat_t
	if unix.Stat("/proc/self/ns/net", &s) == nil {
		st.dev, st.ino, st.ok = uint64(s.Dev), s.Ino, true
	}
	return st
}()

// isStartNS reports whether the open namespace file fd is the namespace
// the process started in.
func isStartNS(fd int) bool {
	var s unix.Stat_t
	if !startNS.ok || unix.Fstat(fd, &s) != nil {
		return false
	}
	return uint64(s.Dev) == startNS.dev && s.Ino == startNS.ino
}

// sockBuffer is the send and receive buffer of the socket. A restore sends
// the whole mirror as one transaction in one message, which must fit the
// send buffer, and the kernel answers each part with an acknowledgement,
// which must fit the receive buffer.
const sockBuffer = 1 << 30

// bigBuffers raises both buffers past the sysctl limits (root may) and asks
// for acknowledgements without the echoed request, so that a transaction
// failing in every part does not flood the receive buffer.
func bigBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, sockBuffer/2); e != nil && serr == nil {
				serr = e
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		// Without CAP_NET_ADMIN the force options fail; the plain ones
		// still give what the sysctls allow.
		_ = c.SetWriteBuffer(sockBuffer / 2)
		_ = c.SetReadBuffer(sockBuffer / 2)
	}
	return c.SetOption(netlink.CapAcknowledge, true)
}

// table is the table object for requests.
func (s *Store) table() *nftables.Table {
	return &nftables.Table{Name: s.cfg.SetName, Family: nftables.TableFamilyINet}
}

// setName returns the name of the set of family f inside the table.
func setName(f ipsetstore.Family) string {
	if f == ipsetstore.IPv6 {
		return "v6"
	}
	return "v4"
}

// displayName names the set of f for logs, status and errors:
// "inet recidivist v4".
func (s *Store) displayName(f ipsetstore.Family) string {
	return s.Table() + " " + setName(f)
}

// set returns the set object of family f, as Ensure and Replace create it.
func (s *Store) set(f ipsetstore.Family) *nftables.Set {
	key := nftables.TypeIPAddr
	if f == ipsetstore.IPv6 {
		key = nftables.TypeIP6Addr
	}
	return &nftables.Set{
		Table:        s.table(),
		Name:         setName(f),
		KeyType:      key,
		KeyByteOrder: binaryutil.BigEndian,
		Interval:     true,
		HasTimeout:   true,
		Counter:      true,
		Size:         s.cfg.Capacity(),
		Comment:      "managed by recidivist",
	}
}
