// Package hits keeps, for every entry of the blocklist, whether it still
// stops traffic: the packets its kernel counter counted when last sampled
// (the baseline), when it was last seen hit, and from when it counts as
// idle. The daemon samples the counters every hit-sample-interval into a
// Book, saves the Book in the state directory (statedir.Hits) and unblocks
// the automatic blocks idle longer than idle-unblock; `list` and `status`
// read the saved Book.
//
// A Book is never trusted to prove a hit it did not see: a counter that
// went down was reset (a reboot, a swap, a delete and re-add), not hit, and
// an interval during which the daemon was blind (the rule missing, the
// listing failed, the daemon stopped) does not age anything. The package
// owns no kernel access and changes nothing that is blocked.
package hits
