// Package daemon wires the flow of recidivist together for `recidivist run`
// and is the one owner of what is blocked: the watcher's offenders go into
// the kernel (package ipsetstore) and the mirror (package blocklist) in one
// transaction, and the kernel is reconciled with the mirror at start, on
// every change of the mirror file and every reconcile interval (owner.go says
// how these are serialised). `recidivist ban` and `unban` change the mirror
// and the kernel through Ban and Unban, under the same lock. Addresses removed
// from the mirror — by `recidivist unban` or by hand — are forgiven in the
// watcher, so the bans logged before their removal never count again.
//
// It owns the daemon's lifetime (lock, readiness, reload) but none of the
// decisions: what counts is the watcher's, what may be blocked is the
// blocklist's, how the kernel is changed is the ipsetstore's.
package daemon
