package ipsetstore

import (
	"encoding/binary"
	"net/netip"

	"golang.org/x/sys/unix"
)

// ipset netlink constants (include/uapi/linux/netfilter/ipset/ip_set.h)
// that the netlink package does not export under these names.
const (
	ipsetProtocol = 6

	cmdCreate  = 2
	cmdDestroy = 3
	cmdSwap    = 6
	cmdList    = 7
	cmdAdd     = 9
	cmdDel     = 10
	cmdProto   = 1

	attrProtocol = 1
	attrSetname  = 2
	attrTypename = 3
	attrRevision = 4
	attrFamily   = 5
	attrFlags    = 6
	attrData     = 7
	attrADT      = 8
	attrLineno   = 9

	// inside attrData
	attrIP        = 1
	attrCIDR      = 3
	attrTimeout   = 6
	attrCadtFlags = 8
	attrMaxElem   = 19
	attrElements  = 24
	attrBytes     = 24
	attrPackets   = 25
	attrComment   = 26
	attrIPv4      = 1
	attrIPv6      = 2

	flagNoMatch      = 1 << 2 // IPSET_FLAG_NOMATCH, an element's cadt flag
	flagWithCounters = 1 << 3
	flagWithComment  = 1 << 4
	flagListHeader   = 1 << 2 // IPSET_FLAG_LIST_HEADER, a command flag

	nlaNested   = 1 << 15
	nlaNetOrder = 1 << 14
	nlaTypeMask = ^uint16(nlaNested | nlaNetOrder)
)

// msg builds one netfilter netlink ipset message.
type msg struct{ b []byte }

// newMsg starts a message for cmd with the netfilter header and the ipset
// protocol attribute every ipset message carries.
func newMsg(buf []byte, cmd uint16, flags uint16) *msg {
	m := &msg{b: buf[:0]}
	m.b = append(m.b, make([]byte, unix.SizeofNlMsghdr)...)
	binary.NativeEndian.PutUint16(m.b[4:], cmd|unix.NFNL_SUBSYS_IPSET<<8)
	binary.NativeEndian.PutUint16(m.b[6:], flags)
	m.b = append(m.b, unix.AF_INET, unix.NFNETLINK_V0, 0, 0) // struct nfgenmsg
	m.u8(attrProtocol, ipsetProtocol)
	return m
}

// finish writes the length and sequence number and returns the bytes.
func (m *msg) finish(seq uint32) []byte {
	binary.NativeEndian.PutUint32(m.b[0:], uint32(len(m.b)))
	binary.NativeEndian.PutUint32(m.b[8:], seq)
	return m.b
}

func (m *msg) attr(typ uint16, data []byte) {
	l := unix.SizeofNlAttr + len(data)
	m.b = binary.NativeEndian.AppendUint16(m.b, uint16(l))
	m.b = binary.NativeEndian.AppendUint16(m.b, typ)
	m.b = append(m.b, data...)
	m.pad()
}

func (m *msg) pad() {
	for len(m.b)%unix.NLA_ALIGNTO != 0 {
		m.b = append(m.b, 0)
	}
}

func (m *msg) u8(typ uint16, v uint8) { m.attr(typ, []byte{v}) }

func (m *msg) u32be(typ uint16, v uint32) {
	m.attr(typ|nlaNetOrder, binary.BigEndian.AppendUint32(nil, v))
}

// u32host is for the line numbers, which the kernel reads in host order.
func (m *msg) u32host(typ uint16, v uint32) {
	m.attr(typ, binary.NativeEndian.AppendUint32(nil, v))
}

func (m *msg) str(typ uint16, s string) {
	l := unix.SizeofNlAttr + len(s) + 1
	m.b = binary.NativeEndian.AppendUint16(m.b, uint16(l))
	m.b = binary.NativeEndian.AppendUint16(m.b, typ)
	m.b = append(m.b, s...)
	m.b = append(m.b, 0)
	m.pad()
}

// nest opens a nested attribute; end closes it.
func (m *msg) nest(typ uint16) int {
	off := len(m.b)
	m.b = binary.NativeEndian.AppendUint16(m.b, 0)
	m.b = binary.NativeEndian.AppendUint16(m.b, typ|nlaNested)
	return off
}

func (m *msg) end(off int) {
	binary.NativeEndian.PutUint16(m.b[off:], uint16(len(m.b)-off))
}

// entry appends one IPSET_ATTR_DATA element; line numbers the element
// within its message so that the kernel can say which one it refused.
func (m *msg) entry(e Entry, withExt bool, line uint32) {
	d := m.nest(attrData)
	ip := m.nest(attrIP)
	a := e.Prefix.Addr()
	if a.Is4() {
		b := a.As4()
		m.attr(attrIPv4|nlaNetOrder, b[:])
	} else {
		b := a.As16()
		m.attr(attrIPv6|nlaNetOrder, b[:])
	}
	m.end(ip)
	m.u8(attrCIDR, uint8(e.Prefix.Bits()))
	if withExt {
		m.u32be(attrTimeout, uint32(e.Timeout.Seconds()))
		if e.Comment != "" {
			m.str(attrComment, e.Comment)
		}
		if e.NoMatch {
			m.u32be(attrCadtFlags, flagNoMatch)
		}
	}
	m.u32host(attrLineno, line)
	m.end(d)
}

// nlattr is one parsed attribute.
type nlattr struct {
	typ  uint16 // without the nested and byte-order flags
	data []byte
}

// attrs walks the attributes in b.
func attrs(b []byte, fn func(a nlattr)) {
	for len(b) >= unix.SizeofNlAttr {
		l := int(binary.NativeEndian.Uint16(b))
		if l < unix.SizeofNlAttr || l > len(b) {
			return
		}
		fn(nlattr{typ: binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask, data: b[unix.SizeofNlAttr:l]})
		l = (l + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1)
		if l > len(b) {
			return
		}
		b = b[l:]
	}
}

// parseEntry decodes one listed element.
func parseEntry(b []byte) (Counted, bool) {
	var (
		e    Counted
		addr netip.Addr
		bits = -1
	)
	attrs(b, func(a nlattr) {
		switch a.typ {
		case attrIP:
			attrs(a.data, func(ip nlattr) {
				if v, ok := netip.AddrFromSlice(ip.data); ok {
					addr = v
				}
			})
		case attrCIDR:
			if len(a.data) == 1 {
				bits = int(a.data[0])
			}
		case attrTimeout:
			if len(a.data) == 4 {
				e.Timeout = secs(binary.BigEndian.Uint32(a.data))
			}
		case attrComment:
			e.Comment = cstring(a.data)
		case attrCadtFlags:
			if len(a.data) == 4 {
				e.NoMatch = binary.BigEndian.Uint32(a.data)&flagNoMatch != 0
			}
		case attrPackets:
			if len(a.data) == 8 {
				e.Packets = binary.BigEndian.Uint64(a.data)
			}
		case attrBytes:
			if len(a.data) == 8 {
				e.Bytes = binary.BigEndian.Uint64(a.data)
			}
		}
	})
	if !addr.IsValid() {
		return e, false
	}
	if bits < 0 {
		bits = addr.BitLen()
	}
	e.Prefix = netip.PrefixFrom(addr, bits)
	return e, e.Prefix.IsValid()
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
