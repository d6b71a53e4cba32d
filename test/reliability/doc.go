// Package reliability proves issue 9's promises with the built binary: no
// offender lost and none invented across crashes, reboots, log rotations of
// every kind, firewall resets, storage faults, hostile lines and mirrors,
// and ban/unban racing the daemon. Each scenario prints its figures and a
// one-line summary (`reliability: crash: 20 kills, …`); docs/reliability.md
// lists them.
//
// The oracle for "nothing lost, nothing extra" is twofold: the generator
// knows by construction which addresses reach the threshold, and
// `recidivist scan` of the same lines must agree with it.
//
// The tests need root (network and mount namespaces, ipsets, iptables).
// They skip without it, except under CI=true, where they fail. Every
// process that changes kernel state runs inside a network namespace the
// test creates and deletes; mounts happen only inside a private mount
// namespace. It has no code of its own; everything is in its _test.go
// files.
package reliability
