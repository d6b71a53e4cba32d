// Package ipsetstore is the kernel side: the two hash:net ipsets (inet and
// inet6) and the one match rule per chain and family that references them.
//
// Everything above it talks to the Store interface; NetlinkStore is the real
// implementation (netlink for sets, go-iptables for rules) and package
// ipsetstore/ipsettest holds an in-memory fake for unit tests.
//
// # Two netlink paths, on purpose
//
// Set contents go through this package's own encoder (nlmsg.go, conn.go,
// adt.go, list.go): one IPSET_CMD_ADD or _DEL message carries up to 60 kB
// of elements, the kernel's IPSET_ATTR_LINENO names the element it refused,
// and a listing can ask for the header only (IPSET_FLAG_LIST_HEADER).
// vishvananda/netlink sends one element per message and has no header-only
// listing, and exec'ing ipset(8) is ruled out by PRODUCT.md; a million
// entries would take a million round trips.
//
// Exactly three calls stay on vishvananda's Handle: create (sets.go),
// destroy (sets.go) and swap (replace.go). Each is one message per set, run
// by Ensure, Replace and Teardown, never per entry, and create carries the
// most options (family, hashsize, maxelem, timeout, comment) whose
// encoding vishvananda keeps up to date with the kernel. Encoding them here
// would save the second socket and buy nothing measurable. libErr maps the
// library's errors to the same kernelError as the encoder's (errnoErr), so
// errors.Is matches the same sentinels whichever path failed.
package ipsetstore
