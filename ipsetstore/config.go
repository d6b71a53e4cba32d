package ipsetstore

import (
	"errors"
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
	// Variant picks the iptables binaries: "" or "auto" runs iptables
	// and ip6tables as installed (the system's alternative), "nft" and
	// "legacy" the iptables-nft or iptables-legacy ones.
	Variant Variant
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

// MaxSetName is the longest set-name: the kernel's names are at most 31
// characters (IPSET_MAXNAMELEN - 1) and the IPv6 set appends "6".
const MaxSetName = maxSetName - 1

// maxChainName is the longest chain name iptables accepts
// (XT_EXTENSION_MAXNAMELEN - 1 = 28).
const maxChainName = 28

// maxMultiport is how many places iptables' multiport match has; a range
// takes two of them.
const maxMultiport = 15

// Validate checks c before anything touches the kernel. Errors match
// ErrBadConfig and name the key at fault. config.Load applies the same
// checks, key by key, through ValidateSetName, ValidateChain,
// ValidateTarget and ValidatePorts.
func (c Config) Validate() error {
	if err := ValidateSetName(c.SetName); err != nil {
		return fmt.Errorf("%w: set-name %q: %v", ErrBadConfig, c.SetName, err)
	}
	if len(c.Chains) == 0 {
		return fmt.Errorf("%w: no chain given: name at least one, e.g. INPUT", ErrBadConfig)
	}
	for _, ch := range c.Chains {
		if err := ValidateChain(ch); err != nil {
			return fmt.Errorf("%w: chain %q: %v", ErrBadConfig, ch, err)
		}
	}
	if err := ValidateTarget(c.Target); err != nil {
		return fmt.Errorf("%w: target %q: %v", ErrBadConfig, c.Target, err)
	}
	if err := ValidatePorts(c.Ports); err != nil {
		return fmt.Errorf("%w: ports %q: %v", ErrBadConfig, c.Ports, err)
	}
	if err := ValidateVariant(string(c.Variant)); err != nil {
		return fmt.Errorf("%w: iptables-variant %q: %v", ErrBadConfig, c.Variant, err)
	}
	return nil
}

// ValidateSetName checks the set-name key. The error says what is allowed.
func ValidateSetName(name string) error {
	ok := name != "" && len(name) <= MaxSetName
	// A leading '-' would read as an option to ipset, iptables and nft, and
	// a leading '.' or '_' is as confusing in their output.
	if ok {
		c := name[0]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("1 to %d characters of letters, digits, '-', '_' or '.', starting with a letter or digit (ipset names are at most %d characters and the IPv6 set adds \"6\")", MaxSetName, maxSetName)
	}
	return nil
}

// ValidateChain checks one name of the chain key.
func ValidateChain(chain string) error {
	if chain == "" || len(chain) > maxChainName || strings.ContainsAny(chain, " \t\n!") || strings.HasPrefix(chain, "-") {
		return fmt.Errorf("an iptables chain name (1 to %d characters, no blanks or '!', not starting with '-')", maxChainName)
	}
	return nil
}

// ValidateTarget checks the target key.
func ValidateTarget(target string) error {
	if target != "DROP" && target != "REJECT" {
		return errors.New("DROP or REJECT")
	}
	return nil
}

// ValidatePorts checks the ports key: "" (all traffic) or PROTO:PORTS.
func ValidatePorts(s string) error {
	_, _, err := parsePorts(s)
	return err
}

// portsAllowed is what the ports key may be.
const portsAllowed = `empty (all ports) or PROTO:PORT[,PORT…] like "tcp:22,80,443" (proto tcp, udp or sctp; ports 1-65535, ranges as 1000:2000; at most 15 ports, a range counting as two)`

// parsePorts splits "tcp:22,80,443" into protocol and port list; "" is no
// restriction. Every protocol iptables' multiport match knows by name and
// nft's dport matches is allowed.
func parsePorts(s string) (proto string, ports []string, err error) {
	if s == "" {
		return "", nil, nil
	}
	proto, list, ok := strings.Cut(s, ":")
	if !ok || (proto != "tcp" && proto != "udp" && proto != "sctp") {
		return "", nil, errors.New(portsAllowed)
	}
	ports = strings.Split(list, ",")
	places := 0
	for _, p := range ports {
		lo, hi, isRange := strings.Cut(p, ":")
		if !isPort(lo) || (isRange && !isPort(hi)) {
			return "", nil, fmt.Errorf("%q is not a port or range: %s", p, portsAllowed)
		}
		places++
		if isRange {
			places++
		}
	}
	if places > maxMultiport {
		return "", nil, fmt.Errorf("iptables' multiport takes at most %d ports: %s", maxMultiport, portsAllowed)
	}
	return proto, ports, nil
}

// isPort reports whether s is a port number 1-65535, in decimal digits.
func isPort(s string) bool {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	v, err := strconv.Atoi(s)
	return err == nil && v >= 1 && v <= 65535
}
