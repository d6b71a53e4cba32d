package ipsetstore

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultMaxElem is the set size used when Config.MaxElem is 0.
const DefaultMaxElem = 1 << 20

// maxSetName is the longest name the kernel accepts (IPSET_MAXNAMELEN - 1).
const maxSetName = 31

// RuleComment tags the match rules so that they can be found, counted and
// removed without touching anybody else's rules.
const RuleComment = "recidivist"

// Config says which sets and rules the store owns.
type Config struct {
	// SetName names the IPv4 set; the IPv6 set is SetName + "6".
	SetName string
	// Chains of the filter table that get the match rule, e.g. INPUT or
	// DOCKER-USER.
	Chains []string
	// Target is DROP or REJECT.
	Target string
	// Ports restricts the rule, as "tcp:22,80,443"; empty matches all
	// traffic.
	Ports string
	// MaxElem is the capacity of each set; 0 means DefaultMaxElem.
	MaxElem uint32
}

// Set returns the name of the set holding family f.
func (c Config) Set(f Family) string {
	if f == IPv6 {
		return c.SetName + "6"
	}
	return c.SetName
}

// tempName returns the name of the scratch set Replace fills before the
// swap; it stays within the kernel's 31 characters.
func (c Config) tempName(f Family) string {
	base := c.SetName
	if len(base) > maxSetName-5 {
		base = base[:maxSetName-5]
	}
	return fmt.Sprintf("%s.tmp%d", base, f)
}

// Capacity returns MaxElem, or DefaultMaxElem when it is 0.
func (c Config) Capacity() uint32 {
	if c.MaxElem == 0 {
		return DefaultMaxElem
	}
	return c.MaxElem
}

// Validate checks c before anything touches the kernel. Errors match
// ErrBadConfig and name the key at fault.
func (c Config) Validate() error {
	switch {
	case c.SetName == "":
		return fmt.Errorf("%w: set-name is empty", ErrBadConfig)
	case len(c.SetName)+1 > maxSetName:
		return fmt.Errorf("%w: set-name %q is too long: with the \"6\" of the IPv6 set it must fit the kernel's %d characters", ErrBadConfig, c.SetName, maxSetName)
	case strings.ContainsAny(c.SetName, " \t\n/\x00"):
		return fmt.Errorf("%w: set-name %q contains blanks or slashes", ErrBadConfig, c.SetName)
	case len(c.Chains) == 0:
		return fmt.Errorf("%w: no chain given: name at least one, e.g. INPUT", ErrBadConfig)
	}
	for _, ch := range c.Chains {
		if ch == "" || strings.ContainsAny(ch, " \t\n") || strings.HasPrefix(ch, "-") {
			return fmt.Errorf("%w: chain %q is not a chain name", ErrBadConfig, ch)
		}
	}
	if c.Target != "DROP" && c.Target != "REJECT" {
		return fmt.Errorf("%w: target %q: want DROP or REJECT", ErrBadConfig, c.Target)
	}
	if _, _, err := parsePorts(c.Ports); err != nil {
		return err
	}
	return nil
}

// parsePorts splits "tcp:22,80,443" into protocol and port list; "" is no
// restriction.
func parsePorts(s string) (proto string, ports []string, err error) {
	if s == "" {
		return "", nil, nil
	}
	proto, list, ok := strings.Cut(s, ":")
	if !ok || (proto != "tcp" && proto != "udp") {
		return "", nil, fmt.Errorf("%w: ports %q: want PROTO:PORT[,PORT...] with PROTO tcp or udp, e.g. tcp:22,80,443", ErrBadConfig, s)
	}
	ports = strings.Split(list, ",")
	if len(ports) > 15 {
		return "", nil, fmt.Errorf("%w: ports %q: iptables' multiport takes at most 15 ports", ErrBadConfig, s)
	}
	for _, p := range ports {
		lo, hi, isRange := strings.Cut(p, ":")
		if !isPort(lo) || (isRange && !isPort(hi)) {
			return "", nil, fmt.Errorf("%w: ports %q: %q is not a port (1-65535) or range (1000:2000)", ErrBadConfig, s, p)
		}
	}
	return proto, ports, nil
}

func isPort(s string) bool {
	v, err := strconv.Atoi(s)
	return err == nil && v >= 1 && v <= 65535
}
