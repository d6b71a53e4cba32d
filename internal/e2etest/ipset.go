package e2etest

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// SetMembers lists the entries of the ipset named set in the named network
// namespace ns (`ip netns add`), read over netlink as the kernel sees them,
// not through recidivist. A single address is a full-length prefix.
func SetMembers(ns, set string) ([]netip.Prefix, error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("opening namespace %s: %w", ns, err)
	}
	defer h.Close() //nolint:errcheck // a handle on /run/netns; nothing to recover
	nl, err := netlink.NewHandleAt(h, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("opening netlink in %s: %w", ns, err)
	}
	defer nl.Close()
	res, err := nl.IpsetList(set)
	if err != nil {
		return nil, fmt.Errorf("listing ipset %s in %s: %w", set, ns, err)
	}
	out := make([]netip.Prefix, 0, len(res.Entries))
	for _, e := range res.Entries {
		a, ok := netip.AddrFromSlice(e.IP)
		if !ok {
			return nil, fmt.Errorf("listing ipset %s: entry with a bad address %v", set, e.IP)
		}
		a = a.Unmap()
		bits := int(e.CIDR)
		if bits == 0 {
			bits = a.BitLen()
		}
		out = append(out, netip.PrefixFrom(a, bits))
	}
	return out, nil
}
