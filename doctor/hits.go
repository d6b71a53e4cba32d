package doctor

import (
	"fmt"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/hits"
	"github.com/recidivist/recidivist/statedir"
)

// hitSaveEvery is how often at most the daemon writes the hit record (the
// daemon's own constant; a record older than this and two sample intervals
// while a daemon runs means the sampler is failing).
const hitSaveEvery = time.Hour

// checkHits checks the daemon's record of the blocks' hits (package hits):
// that it reads, that a running daemon keeps it current, and what
// idle-unblock will remove at the next sample.
func (d *Doctor) checkHits() {
	path := statedir.Hits(d.cfg.StateDir)
	book, err := hits.Load(path)
	if err != nil {
		d.warn(fmt.Sprintf("hits: %v; the daemon counts afresh and every idle time starts again", err),
			"rm "+path+" (the daemon writes it again at its next sample)")
		return
	}
	_, running, _ := statedir.ReadHolder(d.cfg.StateDir) // checkDaemons reports a lock it cannot read
	stale := hitSaveEvery + 2*d.cfg.HitSampleInterval
	switch {
	case book.Sampled.IsZero() && d.cfg.IdleUnblock > 0:
		d.note("hits: not sampled yet; idle-unblock counts idle time from the daemon's first sample, %v after it starts", d.cfg.HitSampleInterval)
		return
	case book.Sampled.IsZero():
		d.note("hits: not sampled yet (the daemon samples every %v)", d.cfg.HitSampleInterval)
		return
	case running && d.now.Sub(book.Sampled) > stale:
		d.warn(fmt.Sprintf("hits: %s was last written %s ago while the daemon runs: the counters are not being sampled, so idle times do not run and PACKETS and LAST HIT are old",
			path, d.now.Sub(book.Sampled).Round(time.Minute)),
			`look for "packet counters" or "hit record" in the daemon's log (journalctl -u recidivist); expected only in the first hit-sample-interval after a start`)
	default:
		d.ok("hits: sampled %s, every %v", book.Sampled.Local().Format(time.RFC3339), d.cfg.HitSampleInterval)
	}
	if d.cfg.IdleUnblock == 0 {
		return
	}
	n := 0
	for e := range blocklist.InForce(d.mirror, d.now) {
		if hits.Unblockable(e, d.cfg.IdleUnblockManual) && book.Idle(e, d.now) >= d.cfg.IdleUnblock {
			n++
		}
	}
	idle := hits.DaysLabel(d.cfg.IdleUnblock)
	d.note("idle-unblock %s: %d blocks not hit for that long go at the next sample (recidivist list --idle %s lists them)", idle, n, idle)
	if d.cfg.Ports != "" {
		d.note("idle-unblock with ports = %q: only packets to those ports meet the rule and count as hits", d.cfg.Ports)
	}
}
