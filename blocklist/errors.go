package blocklist

import (
	"errors"

	"github.com/recidivist/recidivist/internal/nofollow"
)

// Sentinel errors, checked with errors.Is. The wrapped messages carry the
// address or file at fault and what to do about it.
var (
	// ErrNotAddress means a text is not an IPv4/IPv6 address or CIDR.
	ErrNotAddress = errors.New("not an IPv4/IPv6 address or CIDR")
	// ErrDuplicate marks a mirror line whose address is already listed on an
	// earlier line; the earlier line is the one in force.
	ErrDuplicate = errors.New("address already listed")
	// ErrInsecure means the mirror (or its directory) can be changed by
	// other users, who could then decide what the firewall blocks.
	ErrInsecure = errors.New("writable by other users")
	// ErrSymlink means the mirror or its lock file is a symbolic link: it is
	// never followed (it could point anywhere, /etc/shadow say).
	ErrSymlink = nofollow.ErrSymlink
	// ErrInsideRange means an unban named an address that is not listed
	// itself but lies inside a listed range.
	ErrInsideRange = errors.New("inside a listed range")

	// ErrIgnored means the prefix is in, or overlaps, the ignore list.
	ErrIgnored = errors.New("in or overlapping the ignore list")
	// ErrEverything means the prefix is 0.0.0.0/0 or ::/0, refused even
	// with force.
	ErrEverything = errors.New("would block every address")
	// ErrTooWide means the range is wider than /16 (IPv4) or /32 (IPv6)
	// and force was not given.
	ErrTooWide = errors.New("range too wide")
	// ErrNotUnicast means the prefix is multicast, broadcast or unspecified:
	// no packet comes from such a source.
	ErrNotUnicast = errors.New("not a unicast address")
)

// ReportLines is how many LineErrors of one read a log or a command shows
// one by one; the rest is summarized (`recidivist check` lists every one).
// The mirror is read at every reconcile, and a pasted file can hold
// thousands of bad lines.
const ReportLines = 20
