// Package e2etest holds what the tests of the built binary share (e2e and
// test/reliability): the binary built once per test run, fail2ban's line
// format, and the kernel's view of an ipset inside a named network
// namespace.
package e2etest
