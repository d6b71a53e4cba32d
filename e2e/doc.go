// Package e2e holds end-to-end tests of the built recidivist binary: the
// daemon in throwaway network namespaces against real packets, a reboot
// (namespace deleted and made afresh), unban, and the real fail2ban-server
// writing the log the daemon follows. It has no code of its own; everything
// is in its _test.go files.
//
// The tests need root (network namespaces, ipsets, iptables). They skip
// without it, except under CI=true, where they fail. They never touch the
// host's firewall: every process that changes kernel state runs inside a
// namespace the test creates and deletes.
package e2e
