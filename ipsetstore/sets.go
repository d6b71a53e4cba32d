package ipsetstore

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// hashNetRevision is the hash:net revision that has counters and comments
// (ip_set_hash_net.c: 3 counters, 4 comments); every kernel since 3.13
// accepts it.
const hashNetRevision = 4

// setHeader is what the kernel says about a set without its members.
type setHeader struct {
	family   uint8
	typeName string
	maxElem  uint32
	entries  uint32
	cadt     uint32
	timeout  bool
}

// header asks the kernel for the header of set; ok is false when the set
// does not exist. Callers hold s.mu.
func (s *NetlinkStore) header(set string) (h setHeader, ok bool, err error) {
	m := s.c.request(cmdList, unix.NLM_F_DUMP|unix.NLM_F_ACK)
	m.str(attrSetname, set)
	m.u32be(attrFlags, flagListHeader)
	seq, err := s.c.send(m)
	if err != nil {
		return h, false, err
	}
	re := s.c.receive(seq, func(b []byte) {
		attrs(b, func(a nlattr) {
			switch a.typ {
			case attrFamily:
				if len(a.data) > 0 {
					h.family = a.data[0]
				}
			case attrTypename:
				h.typeName = cstring(a.data)
			case attrData:
				attrs(a.data, func(d nlattr) {
					switch {
					case d.typ == attrMaxElem && len(d.data) == 4:
						h.maxElem = be32(d.data)
					case d.typ == attrElements && len(d.data) == 4:
						h.entries = be32(d.data)
					case d.typ == attrCadtFlags && len(d.data) == 4:
						h.cadt = be32(d.data)
					case d.typ == attrTimeout:
						h.timeout = true
					}
				})
			}
		})
	})
	if re != nil {
		if errors.Is(re.err, syscall.ENOENT) {
			return h, false, nil
		}
		return h, false, fmt.Errorf("reading set %s: %w", set, re.err)
	}
	return h, true, nil
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// create makes an empty hash:net set for f named name. Callers hold s.mu.
func (s *NetlinkStore) create(name string, f Family) error {
	zero := uint32(0) // a default timeout of 0: entries are permanent unless they carry their own
	family := uint8(unix.AF_INET)
	if f == IPv6 {
		family = unix.AF_INET6
	}
	err := s.h.IpsetCreate(name, "hash:net", netlink.IpsetCreateOptions{
		Family:      family,
		Revision:    hashNetRevision,
		Timeout:     &zero,
		Counters:    true,
		Comments:    true,
		MaxElements: s.cfg.Capacity(),
	})
	if err != nil {
		return fmt.Errorf("creating set %s (hash:net %s): %w", name, f, libErr(err))
	}
	return nil
}

// destroy removes set name; an absent set is not an error. Callers hold s.mu.
func (s *NetlinkStore) destroy(name string) error {
	if err := whileBusy(func() error { return s.h.IpsetDestroy(name) }); err != nil {
		if errors.Is(libErr(err), syscall.ENOENT) {
			return nil
		}
		return fmt.Errorf("destroying set %s: %w", name, libErr(err))
	}
	return nil
}

// libErr maps an error of the netlink package to a kernelError, so that
// errors.Is matches the sentinels and errnos.
func libErr(err error) error {
	switch v := err.(type) {
	case syscall.Errno:
		return kernelError(v)
	case nl.IPSetError:
		return kernelError(syscall.Errno(v))
	}
	return err
}

// ensureSets creates missing sets and reports which. A set that exists with
// another type or family is an error: recidivist does not own it. Callers
// hold s.mu.
func (s *NetlinkStore) ensureSets(r *Repairs) error {
	for _, f := range Families {
		name := s.cfg.Set(f)
		h, ok, err := s.header(name)
		if err != nil {
			return err
		}
		if ok {
			if h.typeName != "hash:net" || h.family != familyCode(f) || !h.timeout || h.cadt&(flagWithComment|flagWithCounters) != flagWithComment|flagWithCounters {
				return fmt.Errorf("set %s exists but is not a hash:net %s set with timeout, counters and comment: remove it (ipset destroy %s) or choose another set-name", name, f, name)
			}
			continue
		}
		if err := s.create(name, f); err != nil {
			return err
		}
		r.SetsCreated = append(r.SetsCreated, name)
	}
	return nil
}

func familyCode(f Family) uint8 {
	if f == IPv6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// byFamily splits entries into the two sets, keeping their order.
func byFamily(es []Entry) map[Family][]Entry {
	n4 := 0
	for _, e := range es {
		if FamilyOf(e.Prefix) == IPv4 {
			n4++
		}
	}
	out := map[Family][]Entry{IPv4: make([]Entry, 0, n4), IPv6: make([]Entry, 0, len(es)-n4)}
	for _, e := range es {
		f := FamilyOf(e.Prefix)
		out[f] = append(out[f], e)
	}
	return out
}
