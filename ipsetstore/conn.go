package ipsetstore

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// conn is a NETLINK_NETFILTER socket speaking ipset. It lives in the
// network namespace of the thread that opened it. It is not safe for
// concurrent use; NetlinkStore serializes its calls.
type conn struct {
	fd   int
	seq  uint32
	wbuf []byte
	rbuf []byte
}

// rcvBuf is the socket receive buffer: dumps of a million entries arrive
// faster than they are parsed.
const rcvBuf = 8 << 20

// recvTimeout bounds the wait for any one reply.
const recvTimeout = 30 * time.Second

func dial() (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("opening a netfilter netlink socket: %w", errnoErr(err))
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd) //nolint:errcheck // the bind error is the one to report
		return nil, fmt.Errorf("binding a netfilter netlink socket: %w", errnoErr(err))
	}
	// SO_RCVBUFFORCE needs CAP_NET_ADMIN, which every later call needs
	// anyway; without it fall back to what the unprivileged option allows.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf); err != nil {
			unix.Close(fd) //nolint:errcheck // the setsockopt error is the one to report
			return nil, fmt.Errorf("sizing the netlink receive buffer: %w", errnoErr(err))
		}
	}
	// A kernel that never answers must not hang the daemon.
	tv := unix.NsecToTimeval(recvTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd) //nolint:errcheck // the setsockopt error is the one to report
		return nil, fmt.Errorf("setting the netlink receive timeout: %w", errnoErr(err))
	}
	return &conn{fd: fd, wbuf: make([]byte, 0, 1<<16), rbuf: make([]byte, 1<<20)}, nil
}

func (c *conn) close() error { return unix.Close(c.fd) }

// errnoErr turns a syscall errno into a kernelError so that errors.Is
// matches the sentinels.
func errnoErr(err error) error {
	if errno, ok := err.(syscall.Errno); ok {
		return kernelError(errno)
	}
	return err
}

// request starts a message on the connection's write buffer.
func (c *conn) request(cmd uint16, flags uint16) *msg {
	return newMsg(c.wbuf, cmd, flags|unix.NLM_F_REQUEST)
}

// send transmits m and returns its sequence number.
func (c *conn) send(m *msg) (uint32, error) {
	c.seq++
	b := m.finish(c.seq)
	c.wbuf = m.b[:0] // keep the grown buffer for the next message
	if err := unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sending to the kernel: %w", errnoErr(err))
	}
	return c.seq, nil
}

// replyError is the kernel's NLMSG_ERROR answer. line is the IPSET_ATTR_LINENO
// the kernel wrote back into the copy of a multi-element request, naming
// the element it refused (1-based; 0 when unknown).
type replyError struct {
	err  error
	line uint32
}

// receive reads the replies to seq, handing each data message's attributes
// (after the netfilter header) to fn, until the ack, NLMSG_DONE or an error.
func (c *conn) receive(seq uint32, fn func(attrs []byte)) *replyError {
	for {
		n, _, err := unix.Recvfrom(c.fd, c.rbuf, 0)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return &replyError{err: fmt.Errorf("receiving from the kernel: %w", errnoErr(err))}
		}
		b := c.rbuf[:n]
		for len(b) >= unix.SizeofNlMsghdr {
			l := int(binary.NativeEndian.Uint32(b))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return &replyError{err: fmt.Errorf("receiving from the kernel: truncated netlink message")}
			}
			typ := binary.NativeEndian.Uint16(b[4:])
			mseq := binary.NativeEndian.Uint32(b[8:])
			body := b[unix.SizeofNlMsghdr:l]
			b = b[(l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1):]
			if mseq != seq {
				continue // a late answer to an abandoned request
			}
			switch typ {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				return parseError(body)
			default:
				if len(body) >= sizeofNfgenmsg {
					fn(body[sizeofNfgenmsg:])
				}
			}
		}
	}
}

// parseError reads a struct nlmsgerr: the errno (0 is the ack) and a copy
// of the request, whose top-level IPSET_ATTR_LINENO ipset rewrote to name
// the refused element.
func parseError(body []byte) *replyError {
	if len(body) < 4 {
		return &replyError{err: fmt.Errorf("receiving from the kernel: short error message")}
	}
	code := -int32(binary.NativeEndian.Uint32(body))
	if code == 0 {
		return nil
	}
	re := &replyError{err: kernelError(code)}
	req := body[4:]
	if len(req) >= unix.SizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(req))
		if l <= len(req) && l >= unix.SizeofNlMsghdr+sizeofNfgenmsg {
			attrs(req[unix.SizeofNlMsghdr+sizeofNfgenmsg:l], func(a nlattr) {
				if a.typ == attrLineno && len(a.data) == 4 {
					re.line = binary.NativeEndian.Uint32(a.data)
				}
			})
		}
	}
	return re
}

// do sends m and waits for the ack.
func (c *conn) do(m *msg) error {
	seq, err := c.send(m)
	if err != nil {
		return err
	}
	if re := c.receive(seq, func([]byte) {}); re != nil {
		return re.err
	}
	return nil
}

// sizeofNfgenmsg is the size of struct nfgenmsg, the netfilter header.
const sizeofNfgenmsg = 4
