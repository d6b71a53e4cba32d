// Package watcher reads fail2ban's log and decides who is a repeat offender.
//
// It owns everything between the bytes of fail2ban.log and the decision
// "this address is an offender": parsing every line shape fail2ban 0.8 to 1.1
// writes (native, syslog and ISO-8601 prefixes) into Ban events, filtering
// them by jail and ignore list, counting them per address over a sliding
// window (Tracker), following the log through rotation (Follower) with the
// one line splitter every reader shares (lines.go: bounded lines, NUL runs
// end a line, reads stop when their context ends), and
// persisting the checkpoint and per-address history so that a restart loses
// nothing and counts nothing twice.
//
// It does not block anything: the offenders of each batch of lines are
// handed to the caller, which records them in the blocklist and the kernel;
// reading waits until the caller accepted them, and only then does the
// checkpoint move past the batch.
package watcher
