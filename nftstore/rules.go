package nftstore

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/recidivist/recidivist/ipsetstore"
)

// Priority is the priority of recidivist's base chains: before the filter
// chains of iptables-nft and nftables (0) and firewalld (+10), so a drop
// here comes first; an accept elsewhere cannot undo it.
const Priority = -10

// baseChain is one base chain of the table and the configured chain names
// it stands for (FORWARD and DOCKER-USER both become forward).
type baseChain struct {
	name    string // input or forward
	hook    *nftables.ChainHook
	configs []string
}

// baseChains maps the configured iptables chain names onto base chains.
func baseChains(chains []string) ([]baseChain, error) {
	var out []baseChain
	for _, c := range chains {
		var name string
		var hook *nftables.ChainHook
		switch strings.ToUpper(c) {
		case "INPUT":
			name, hook = "input", nftables.ChainHookInput
		case "FORWARD", "DOCKER-USER":
			name, hook = "forward", nftables.ChainHookForward
		default:
			return nil, fmt.Errorf("%w: chain %q: with backend nftables chain must be INPUT, FORWARD or DOCKER-USER (hook input or forward)", ipsetstore.ErrBadConfig, c)
		}
		found := false
		for i := range out {
			if out[i].name == name {
				out[i].configs = append(out[i].configs, c)
				found = true
			}
		}
		if !found {
			out = append(out, baseChain{name: name, hook: hook, configs: []string{c}})
		}
	}
	return out, nil
}

// label names the base chain's rules in repairs and status: the configured
// chain, e.g. INPUT or FORWARD+DOCKER-USER.
func (b baseChain) label() string { return strings.Join(b.configs, "+") }

// chain returns the chain object of b in table t.
func (b baseChain) chain(t *nftables.Table) *nftables.Chain {
	prio := nftables.ChainPriority(Priority)
	policy := nftables.ChainPolicyAccept
	return &nftables.Chain{Name: b.name, Table: t, Hooknum: b.hook, Priority: &prio, Type: nftables.ChainTypeFilter, Policy: &policy}
}

// ruleTag is the comment our rule for family f carries; it spells out what
// the rule does, so a rule written for another target or ports reads as
// wrong and is rewritten.
func (s *Store) ruleTag(f ipsetstore.Family) string {
	tag := ipsetstore.RuleComment + " " + setName(f) + " " + strings.ToLower(s.cfg.Target)
	if s.cfg.Ports != "" {
		tag += " " + s.cfg.Ports
	}
	return tag
}

// ruleComment returns the comment of r, or "".
func ruleComment(r *nftables.Rule) string {
	c, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return c
}

// addRules queues the rules of chain ch: `meta nfproto ipv4 ip saddr @v4
// [ports] counter drop` and the IPv6 twin, in that order. Callers hold s.mu.
func (s *Store) addRules(c *nftables.Conn, ch *nftables.Chain) error {
	for _, f := range ipsetstore.Families {
		exprs, err := s.ruleExprs(c, f)
		if err != nil {
			return err
		}
		c.AddRule(&nftables.Rule{
			Table:    ch.Table,
			Chain:    ch,
			Exprs:    exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, s.ruleTag(f)),
		})
	}
	return nil
}

// ruleExprs builds the expressions of the rule for family f. The protocol
// check comes first: in an inet table nothing else guarantees an IPv4
// header before reading its source address.
func (s *Store) ruleExprs(c *nftables.Conn, f ipsetstore.Family) ([]expr.Any, error) {
	proto, offset, length := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if f == ipsetstore.IPv6 {
		proto, offset, length = unix.NFPROTO_IPV6, 8, 16
	}
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: length},
		&expr.Lookup{SourceRegister: 1, SetName: setName(f)},
	}
	if s.cfg.Ports != "" {
		pe, err := s.portExprs(c)
		if err != nil {
			return nil, err
		}
		exprs = append(exprs, pe...)
	}
	exprs = append(exprs, &expr.Counter{})
	if s.cfg.Target == "REJECT" {
		exprs = append(exprs, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED})
	} else {
		exprs = append(exprs, &expr.Verdict{Kind: expr.VerdictDrop})
	}
	return exprs, nil
}

// portExprs matches `meta l4proto P th dport { ports }` through an
// anonymous interval set queued on c.
func (s *Store) portExprs(c *nftables.Conn) ([]expr.Any, error) {
	protoName, list, _ := strings.Cut(s.cfg.Ports, ":")
	proto := map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}[protoName]
	var elems []nftables.SetElement
	for _, p := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(p, ":")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.ParseUint(lo, 10, 16)
		h, err2 := strconv.ParseUint(hi, 10, 16)
		if err1 != nil || err2 != nil || l > h {
			return nil, fmt.Errorf("%w: ports %q: %q is not a port or range", ipsetstore.ErrBadConfig, s.cfg.Ports, p)
		}
		elems = append(elems, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(uint16(l))})
		if h < 65535 {
			elems = append(elems, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(uint16(h + 1)), IntervalEnd: true})
		}
	}
	set := &nftables.Set{Table: s.table(), Anonymous: true, Constant: true, Interval: true, KeyType: nftables.TypeInetService, KeyByteOrder: binaryutil.BigEndian}
	if err := c.AddSet(set, elems); err != nil {
		return nil, fmt.Errorf("building the port set of ports %q: %w", s.cfg.Ports, err)
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
	}, nil
}
