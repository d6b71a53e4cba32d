package ipsetstore

import (
	"errors"
	"fmt"
	"sync"

	"github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NetlinkStore is the real Store: sets over netlink, rules through
// go-iptables. It is safe for concurrent use; calls are serialized.
//
// The netlink sockets are opened on first use, in the network namespace of
// the calling thread, and iptables runs in the namespace of whichever thread
// calls; tests that work in a namespace lock their OS thread to it.
type NetlinkStore struct {
	cfg Config

	mu   sync.Mutex // guards the fields below and serializes every call
	h    *netlink.Handle
	c    *conn
	ipt  map[Family]ruleTable
	once bool // the kernel's ipset protocol was checked
}

var (
	_ Store   = (*NetlinkStore)(nil)
	_ Counter = (*NetlinkStore)(nil)
)

// New validates cfg and returns a store for it. It touches nothing: the
// first call that needs the kernel opens the sockets. Errors match
// ErrBadConfig and name the key at fault.
func New(cfg Config) (*NetlinkStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Chains = append([]string(nil), cfg.Chains...)
	return &NetlinkStore{cfg: cfg, ipt: map[Family]ruleTable{}}, nil
}

// Close releases the netlink sockets. The store may be used again after it;
// it reopens them.
func (s *NetlinkStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.c != nil {
		err = s.c.close()
		s.c = nil
	}
	if s.h != nil {
		s.h.Close()
		s.h = nil
	}
	return err
}

// open makes sure the sockets are there and the kernel speaks ipset.
// Callers hold s.mu.
func (s *NetlinkStore) open() error {
	if s.c == nil {
		c, err := dial()
		if err != nil {
			return err
		}
		s.c = c
	}
	if s.h == nil {
		h, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
		if err != nil {
			return fmt.Errorf("opening a netlink handle: %w", errnoErr(err))
		}
		s.h = h
	}
	if !s.once {
		if err := s.c.do(s.c.request(cmdProto, unix.NLM_F_ACK)); err != nil {
			// Without the ip_set module nfnetlink knows no ipset subsystem
			// and answers EINVAL.
			if errors.Is(err, unix.EINVAL) || errors.Is(err, ErrNoKernelSupport) {
				return fmt.Errorf("asking the kernel for ipset: %w (%w)", ErrNoKernelSupport, err)
			}
			return fmt.Errorf("asking the kernel for ipset: %w", err)
		}
		s.once = true
	}
	return nil
}

// iptablesFor returns the iptables or ip6tables runner. Callers hold s.mu.
func (s *NetlinkStore) iptablesFor(f Family) (ruleTable, error) {
	if ipt, ok := s.ipt[f]; ok {
		return ipt, nil
	}
	proto := iptables.ProtocolIPv4
	if f == IPv6 {
		proto = iptables.ProtocolIPv6
	}
	cmd := s.cfg.Variant.Command(f)
	ipt, err := iptables.New(iptables.IPFamily(proto), iptables.Timeout(5), iptables.Path(cmd))
	if err != nil {
		return nil, fmt.Errorf("finding %s: %w (%w) — install the iptables package, or set iptables-variant to one that is installed", cmd, ErrNoKernelSupport, err)
	}
	s.ipt[f] = iptablesTable{ipt}
	return s.ipt[f], nil
}

func iptablesName(f Family) string {
	if f == IPv6 {
		return "ip6tables"
	}
	return "iptables"
}
