// Package ipsetstore is the kernel side: the two hash:net ipsets (inet and
// inet6) and the one match rule per chain and family that references them.
//
// Everything above it talks to the Store interface; NetlinkStore is the real
// implementation (netlink for sets, go-iptables for rules) and package
// ipsetstore/ipsettest holds an in-memory fake for unit tests.
package ipsetstore
