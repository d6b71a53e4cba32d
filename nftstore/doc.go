// Package nftstore is the nftables backend of recidivist: an
// ipsetstore.Store kept in one table `inet <set-name>` of its own, with two
// interval sets v4 and v6 (timeouts, per-element counters and comments) and
// one base chain per hook (input, forward) at priority -10 whose rules drop
// what the sets hold.
//
// The table carries no owner flag: blocks outlive the daemon. Nothing here
// touches another table, so a host's own nftables ruleset, firewalld's or
// Docker's stay as they are; a drop in any base chain is final.
//
// It speaks netlink through github.com/google/nftables v0.3.0 and works
// around that version's gaps: interval ends are computed here, ranges
// reaching the top of the address space are refused (v0.3.0 cannot send an
// open interval), elements go at most 256 to a message, deletes name only
// what was read back, and ENFILE is a full set.
package nftstore
