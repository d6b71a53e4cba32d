// Package blocklist owns the mirror file, the durable truth of what is
// blocked, and the refusal rules (ignore list, too-wide ranges) that decide
// what may be blocked at all.
//
// It does not talk to the kernel: package ipsetstore makes the kernel equal
// to the entries this package hands out.
package blocklist
