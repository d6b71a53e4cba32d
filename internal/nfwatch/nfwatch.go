// Package nfwatch follows the nf_tables changes of one network namespace:
// every committed transaction (nft, iptables-nft, firewalld, our own
// writes) with what it deleted and which process committed it, so that the
// daemon can put back a rule, chain or table within milliseconds of its
// removal instead of at the next poll. It also reads the ruleset
// generation, which every commit advances.
//
// It decodes the notifications itself rather than through google/nftables
// v0.3.0's Monitor: that one drops the end-of-transaction message (and so
// every event) when it is asked for deletions only, gives set element
// events without the set they belong to, decodes every rule and element
// in full (a restore of a million entries is a million decoded
// elements), and stops for good when the socket overflows. Here only the
// names are read, and an overflow is reported and followed on.
package nfwatch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Kind is the kind of nf_tables object a change is about.
type Kind uint8

// The kinds of objects followed.
const (
	Table Kind = iota + 1
	Chain
	Rule
	Set
	Element
)

func (k Kind) String() string {
	switch k {
	case Table:
		return "table"
	case Chain:
		return "chain"
	case Rule:
		return "rule"
	case Set:
		return "set"
	case Element:
		return "element"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Deletion is one object a transaction deleted. Elements of one set come
// as one Deletion per notification (the kernel puts several in each).
type Deletion struct {
	Kind   Kind
	Family uint8  // unix.NFPROTO_INET, NFPROTO_IPV4, NFPROTO_IPV6, …
	Table  string // the table; for a table, its own name
	Chain  string // rules and chains: the chain
	Set    string // sets and elements: the set
}

// Commit is one transaction the kernel committed, or a gap.
type Commit struct {
	// Gen is the generation the commit made (the ruleset's version).
	Gen uint32
	// PID and Comm name the thread that committed it (its task id, the
	// process id only for its main thread; 15 bytes of its name at most,
	// as the kernel keeps it).
	PID  uint32
	Comm string
	// Deleted lists what it deleted, in the order of the notifications.
	Deleted []Deletion
	// Lost is non-nil when notifications were lost (the socket's buffer
	// overflowed, or it had to be opened again): anything may have
	// changed since the last commit seen. The other fields are then zero.
	Lost error
}

// Own reports whether this process committed c. The kernel names the
// thread that committed (its task id), so any thread of ours counts.
func (c Commit) Own() bool {
	if c.Lost != nil || c.PID == 0 {
		return false
	}
	if c.PID == uint32(os.Getpid()) {
		return true
	}
	_, err := os.Stat("/proc/self/task/" + strconv.FormatUint(uint64(c.PID), 10))
	return err == nil
}

// SameProgram reports whether c was committed by a process of the same
// name as this one (the kernel keeps 15 bytes of it): for the daemon,
// `recidivist ban`, `unban` or `restore` run beside it.
func (c Commit) SameProgram() bool {
	return c.Lost == nil && c.Comm != "" && c.Comm == selfComm
}

// selfComm is this process's name as the kernel keeps it.
var selfComm = func() string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		return "" // matches no commit: SameProgram is then always false
	}
	return strings.TrimSpace(string(b))
}()

// Watcher follows the changes of the network namespace it was opened in.
type Watcher struct {
	conn *netlink.Conn
	once sync.Once // closes conn once: Run on its way out, or Close
}

// Open returns a watcher of the calling thread's network namespace (lock
// the goroutine to its thread when that matters): the socket is made
// there and stays there, with no setns, which needs CAP_SYS_ADMIN that the
// service's sandbox does not grant. It listens from now on: commits made
// before Run starts reading wait in the socket's buffer.
func Open() (*Watcher, error) {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket for nf_tables events: %w", err)
	}
	if err := conn.JoinGroup(unix.NFNLGRP_NFTABLES); err != nil {
		conn.Close() //nolint:errcheck // the join error is the one to report
		return nil, fmt.Errorf("joining the nf_tables event group: %w", err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close() //nolint:errcheck // the error above is the one to report
		return nil, err
	}
	_ = raw.Control(func(fd uintptr) {
		// Root may go past rmem_max; without it the plain option gives
		// what the sysctl allows. Either way an overflow is reported.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuffer) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuffer) // best effort: see above
		}
	})
	return &Watcher{conn: conn}, nil
}

// Close stops listening; Run returns.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() { err = w.conn.Close() })
	return err
}

// rcvBuffer is the receive buffer asked for: a `nft flush ruleset` of a
// busy host, or a restore of a million entries by another process, sends
// many notifications at once; an overflow costs a full check.
const rcvBuffer = 8 << 20

// Run calls fn with every commit until ctx ends; fn runs on Run's
// goroutine and should return quickly. Run may be called once; it closes
// the watcher's socket when ctx ends. It reports an error only when the
// socket fails for another reason than an overflow.
func (w *Watcher) Run(ctx context.Context, fn func(Commit)) error {
	conn := w.conn
	stop := context.AfterFunc(ctx, func() { w.Close() }) //nolint:errcheck // unblocks Receive; Run returns next
	defer stop()

	var pending []Deletion
	for {
		msgs, err := conn.Receive()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				pending = nil
				fn(Commit{Lost: fmt.Errorf("nf_tables events lost: %w", err)})
				continue
			}
			return fmt.Errorf("reading nf_tables events: %w", err)
		}
		for _, m := range msgs {
			if int(m.Header.Type)>>8 != unix.NFNL_SUBSYS_NFTABLES || len(m.Data) < 4 {
				continue
			}
			typ := int(m.Header.Type) & 0xff
			if typ == unix.NFT_MSG_NEWGEN {
				c := decodeGen(m.Data[4:])
				c.Deleted, pending = pending, nil
				fn(c)
				continue
			}
			if d, ok := decodeDeletion(typ, m.Data); ok {
				pending = append(pending, d)
			}
		}
	}
}

// decodeDeletion reads the kind, family and names of a deletion
// notification; ok is false for anything else.
func decodeDeletion(typ int, data []byte) (Deletion, bool) {
	d := Deletion{Family: data[0]}
	// Every kind keeps its table in attribute 1; the second name is
	// attribute 3 for a chain (NFTA_CHAIN_NAME), 2 otherwise.
	var second uint16 = 2
	switch typ {
	case unix.NFT_MSG_DELTABLE:
		d.Kind = Table
	case unix.NFT_MSG_DELCHAIN:
		d.Kind, second = Chain, unix.NFTA_CHAIN_NAME
	case unix.NFT_MSG_DELRULE:
		d.Kind = Rule // NFTA_RULE_CHAIN
	case unix.NFT_MSG_DELSET:
		d.Kind = Set // NFTA_SET_NAME
	case unix.NFT_MSG_DELSETELEM:
		d.Kind = Element // NFTA_SET_ELEM_LIST_SET
	default:
		return d, false
	}
	ad, err := netlink.NewAttributeDecoder(data[4:])
	if err != nil {
		return d, true // a deletion of something: the caller checks
	}
	var name2 string
	for ad.Next() {
		switch ad.Type() {
		case 1:
			d.Table = ad.String()
		case second:
			name2 = ad.String()
		}
	}
	switch d.Kind {
	case Chain, Rule:
		d.Chain = name2
	case Set, Element:
		d.Set = name2
	}
	return d, true
}

// decodeGen reads a NEWGEN message.
func decodeGen(b []byte) Commit {
	var c Commit
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return c
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_GEN_ID:
			c.Gen = ad.Uint32()
		case unix.NFTA_GEN_PROC_PID:
			c.PID = ad.Uint32()
		case unix.NFTA_GEN_PROC_NAME:
			c.Comm = ad.String()
		}
	}
	return c
}

// Generation returns the ruleset generation of the network namespace ns
// (an open fd; 0 or -1: the calling thread's, without setns): one round trip, whatever the
// size of the ruleset. Every committed transaction advances it, so an
// unchanged generation means nothing in nf_tables changed.
func Generation(ns int) (uint32, error) {
	cfg := &netlink.Config{}
	if ns > 0 {
		cfg.NetNS = ns
	}
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return 0, fmt.Errorf("opening a netlink socket for nf_tables: %w", err)
	}
	defer conn.Close()
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request,
		},
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return 0, fmt.Errorf("reading the nf_tables generation: %w", err)
	}
	for _, m := range msgs {
		if int(m.Header.Type)&0xff == unix.NFT_MSG_NEWGEN && len(m.Data) >= 4 {
			return decodeGen(m.Data[4:]).Gen, nil
		}
	}
	return 0, errors.New("reading the nf_tables generation: no answer")
}
