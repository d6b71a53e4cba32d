package ipsetstore

import (
	"errors"
	"fmt"
	"syscall"
)

// Errors callers tell apart with errors.Is.
var (
	// ErrSetFull: the set reached maxelem; the entry was not added.
	ErrSetFull = errors.New("ipset is full")
	// ErrNotPermitted: the process lacks CAP_NET_ADMIN.
	ErrNotPermitted = errors.New("operation not permitted")
	// ErrNoKernelSupport: the kernel lacks ipset, hash:net or netfilter
	// support, or iptables is not installed.
	ErrNoKernelSupport = errors.New("no kernel support")
	// ErrNoSet: the set to add to does not exist; Ensure creates it.
	ErrNoSet = errors.New("set does not exist")
	// ErrBadConfig: Config is invalid; the message names the key.
	ErrBadConfig = errors.New("invalid ipset configuration")
	// ErrBadPrefix: an entry's prefix is invalid or /0, which hash:net
	// cannot hold.
	ErrBadPrefix = errors.New("invalid prefix for a hash:net set")
)

// Kernel ipset error numbers (include/uapi/linux/netfilter/ipset/ip_set.h
// and ip_set_hash.h).
const (
	ipsetErrProtocol  = 4097 // IPSET_ERR_PROTOCOL
	ipsetErrFindType  = 4098 // IPSET_ERR_FIND_TYPE
	ipsetErrBusy      = 4100 // IPSET_ERR_BUSY: a destroy of a set in use (also by a listing)
	ipsetErrExist     = 4103 // IPSET_ERR_EXIST
	ipsetErrReference = 4108 // IPSET_ERR_REFERENCED
	ipsetErrHashFull  = 4352 // IPSET_ERR_HASH_FULL, the first type-specific error
)

// kernelError is an errno the kernel answered, with ipset's own numbers
// spelled out the way the ipset tool does.
type kernelError syscall.Errno

func (e kernelError) Error() string {
	switch e {
	case ipsetErrProtocol:
		return "kernel and recidivist disagree on the ipset protocol"
	case ipsetErrFindType:
		return "the kernel does not know the set type hash:net"
	case ipsetErrExist:
		return "element or set already exists / does not exist"
	case ipsetErrReference:
		return "set is in use by a rule"
	case ipsetErrHashFull:
		return "hash is full, cannot add more elements"
	}
	return syscall.Errno(e).Error()
}

// Is lets errors.Is match both the sentinels and the plain errno
// (errors.Is(err, syscall.ENOENT)).
func (e kernelError) Is(target error) bool {
	switch target {
	case ErrSetFull:
		return e == ipsetErrHashFull
	case ErrNotPermitted:
		return syscall.Errno(e) == syscall.EPERM || syscall.Errno(e) == syscall.EACCES
	case ErrNoKernelSupport:
		return e == ipsetErrFindType || e == ipsetErrProtocol ||
			syscall.Errno(e) == syscall.EPROTONOSUPPORT || syscall.Errno(e) == syscall.EAFNOSUPPORT
	}
	if errno, ok := target.(syscall.Errno); ok {
		return syscall.Errno(e) == errno
	}
	return false
}

// fullError names the set and its capacity. What to do about it is the
// command's to say (cmd/recidivist explainKernel), once.
func fullError(set string, maxElem uint32, err error) error {
	return fmt.Errorf("set %s is full (maxelem %d): %w", set, maxElem, err)
}
