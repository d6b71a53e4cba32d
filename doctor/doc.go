// Package doctor finds what keeps recidivist from working on this host and
// says how to fix it: it is `recidivist check`. It changes nothing. Each
// finding is one line, "ok", "note", "WARNING" or "PROBLEM"; a warning or a
// problem is followed by a "fix:" line. A problem means recidivist does not
// block as configured (exit status 1); a warning is a risk that does not
// (exit status 0).
//
// Run performs the checks in this order, each guarding one way the
// hand-off from fail2ban's log to the kernel can silently fail:
//
//   - config: the warnings config.Load collected, and which file was read.
//   - export: who may fetch the blocklist the export serves.
//   - notify: the hook is a regular, executable file no group or other
//     user can change (the daemon runs it), and the webhook's URL is named
//     without its secrets.
//   - logs: fail2ban is installed, its loglevel shows the Ban lines and its
//     logtarget is the log recidivist reads; each log (or the journal)
//     exists, is readable, is no FIFO or socket, and shows countable Ban
//     lines in its tail; a syslog file is warned about, since any local user
//     can forge lines into it.
//   - privilege: CAP_NET_ADMIN in the effective set; without it the kernel
//     checks are skipped rather than failed.
//   - iptables: the iptables and ip6tables binaries (not for the nftables
//     backend).
//   - kernel: ipset (or nftables) support, both sets, one match rule at the
//     top of each chain, and drift: the sets hold exactly the mirror's
//     entries in force.
//   - coexistence: the iptables variant recidivist does not use holds no
//     rules, none of recidivist's and no configured chain (the "iptables-
//     legacy tables present" case); a configured DOCKER-USER is not
//     missing because Docker runs its nftables backend (use backend =
//     "nftables"); nftables.service, when enabled, does not begin its
//     script with `flush ruleset` (a warning: a reload wipes recidivist's
//     rule or table until the daemon puts it back). A pending chain (one
//     that does not exist yet) is a warning of the kernel check.
//   - daemons: whether a daemon runs on this state directory, and that no
//     other daemon in this network namespace manages the same sets (each
//     would undo the other's blocks).
//   - state files: none is a symbolic link, which recidivist refuses.
//   - mirror: a regular file no other user can write, every line of it in
//     force (a bad line, or one the refusal policy refuses, is listed with
//     its file:line).
//   - fleet (with fleet-redis): Redis reachable, the user and password
//     (WRONGPASS), every command of the ACL (NOPERM, naming those refused),
//     the fleet's rule against threshold, window and ban-time here, and the
//     clock skew against Redis's TIME (over 1 s: run NTP). Its ACL probe writes
//     scratch keys rcv:{F}:check:* that expire within 10 s.
//   - hits: the daemon's hit record reads, a running daemon keeps it
//     current, and how many blocks idle-unblock removes at the next sample.
//
// The doctor reads the outside world only: the mirror through
// internal/host, the kernel through an ipsetstore.Store, other daemons
// through statedir. It owns no state of its own; what is blocked is
// daemon's alone.
package doctor
