package nftstore

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"time"

	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/recidivist/recidivist/ipsetstore"
)

// element is one set element as the kernel dumps it.
type element struct {
	key            []byte
	end            bool
	timeout        time.Duration
	expires        time.Duration
	comment        string
	packets, bytes uint64
}

// dumpBuffer is the size of each read of a dump. The kernel sizes the
// parts of a dump after the largest read so far (up to 32 KiB), and an
// interval set's dump walks the tree from its start for every part: the
// library's page-sized reads made listing 100k entries take tens of
// seconds.
const dumpBuffer = 64 << 10

// dumpElements lists the elements of the set of f with reads of
// dumpBuffer bytes. Callers hold s.mu and have opened the store.
func (s *Store) dumpElements(f ipsetstore.Family) ([]element, error) {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: s.nsFd()})
	if err != nil {
		return nil, kernelErr(err)
	}
	defer conn.Close()
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(s.cfg.SetName + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(setName(f) + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	req := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM),
			Flags: netlink.Request | netlink.Dump,
		},
		Data: append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, attrs...),
	}
	if _, err := conn.Send(req); err != nil {
		return nil, kernelErr(err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, dumpBuffer)
	var out []element
	for {
		var n int
		var rerr error
		if err := raw.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		}); err != nil {
			return nil, err
		}
		if rerr != nil {
			return nil, kernelErr(rerr)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("parsing the dump of set %s: %w", s.displayName(f), err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
						return nil, kernelErr(syscall.Errno(-code))
					}
				}
				return out, nil
			}
			if len(m.Data) < 4 {
				continue
			}
			out, err = appendElements(out, m.Data[4:])
			if err != nil {
				return nil, fmt.Errorf("decoding the dump of set %s: %w", s.displayName(f), err)
			}
		}
	}
}

// appendElements decodes the element list of one NEWSETELEM message.
func appendElements(out []element, b []byte) ([]element, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return out, err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		ad.Nested(func(list *netlink.AttributeDecoder) error {
			for list.Next() {
				var e element
				list.Nested(func(d *netlink.AttributeDecoder) error {
					d.ByteOrder = binary.BigEndian
					for d.Next() {
						switch d.Type() {
						case unix.NFTA_SET_ELEM_KEY:
							d.Nested(func(k *netlink.AttributeDecoder) error {
								for k.Next() {
									if k.Type() == unix.NFTA_DATA_VALUE {
										e.key = k.Bytes()
									}
								}
								return nil
							})
						case unix.NFTA_SET_ELEM_FLAGS:
							e.end = d.Uint32()&unix.NFT_SET_ELEM_INTERVAL_END != 0
						case unix.NFTA_SET_ELEM_TIMEOUT:
							e.timeout = time.Duration(d.Uint64()) * time.Millisecond
						case unix.NFTA_SET_ELEM_EXPIRATION:
							e.expires = time.Duration(d.Uint64()) * time.Millisecond
						case unix.NFTA_SET_ELEM_USERDATA:
							e.comment, _ = userdata.GetString(d.Bytes(), userdata.NFTNL_UDATA_SET_ELEM_COMMENT)
						case unix.NFTA_SET_ELEM_EXPR:
							d.Nested(func(x *netlink.AttributeDecoder) error {
								x.ByteOrder = binary.BigEndian
								counter := false
								for x.Next() {
									switch x.Type() {
									case unix.NFTA_EXPR_NAME:
										counter = x.String() == "counter"
									case unix.NFTA_EXPR_DATA:
										if !counter {
											continue
										}
										x.Nested(func(c *netlink.AttributeDecoder) error {
											c.ByteOrder = binary.BigEndian
											for c.Next() {
												switch c.Type() {
												case unix.NFTA_COUNTER_PACKETS:
													e.packets = c.Uint64()
												case unix.NFTA_COUNTER_BYTES:
													e.bytes = c.Uint64()
												}
											}
											return nil
										})
									}
								}
								return nil
							})
						}
					}
					return nil
				})
				out = append(out, e)
			}
			return nil
		})
	}
	return out, ad.Err()
}
