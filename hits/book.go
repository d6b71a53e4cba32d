package hits

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/ipsetstore"
)

// Record is what a Book knows of one entry.
type Record struct {
	// Packets and Bytes are the entry's counters at the last sample; the
	// next sample compares with Packets (the baseline).
	Packets, Bytes uint64
	// LastHit is the sample that last saw the counter grow; zero: never.
	LastHit time.Time
	// IdleFrom is when the entry's idle time starts: its last hit, or when
	// it was blocked, moved forward over every interval the sampler was
	// blind to it.
	IdleFrom time.Time
}

// Book holds a Record per entry. Its zero value is an empty Book, never
// sampled. It is not safe for concurrent use.
type Book struct {
	// Sampled is the time of the last sample (seen or blind); zero: none.
	Sampled time.Time
	Records map[netip.Prefix]Record
}

// Sample is one sampling at now of the counters listed (nil: the listing
// failed) against the blocklist entries. blind says that the rule was
// missing, or the daemon not watching, during some of the interval since
// the last sample: hits the counters show are taken, but the interval
// ages nothing. Entries absent from the listing are blind alike (the
// reconcile puts them back); entries no longer in the blocklist are
// forgotten. It returns the packets counted since the last sample, by
// family: the growth of each counter, or all of a counter that was reset.
func (b *Book) Sample(now time.Time, entries []blocklist.Entry, counted []ipsetstore.Counted, blind bool) map[ipsetstore.Family]uint64 {
	grew := map[ipsetstore.Family]uint64{}
	kernel := make(map[netip.Prefix]ipsetstore.Counted, len(counted))
	for _, c := range counted {
		kernel[c.Prefix] = c
	}
	next := make(map[netip.Prefix]Record, len(entries))
	for _, e := range entries {
		r, known := b.Records[e.Prefix]
		if !known {
			r.IdleFrom = e.Added
			if r.IdleFrom.IsZero() || r.IdleFrom.After(now) {
				r.IdleFrom = now // a line written by hand ages from when it is first seen
			}
		}
		c, listed := kernel[e.Prefix]
		seen := listed && !blind
		if listed {
			fam := ipsetstore.FamilyOf(e.Prefix)
			switch {
			case !known && c.Packets > 0:
				// First seen with packets: they came since it was added,
				// when is not known, so as late as can be.
				r.LastHit, r.IdleFrom = now, now
				grew[fam] += c.Packets
			case c.Packets > r.Packets:
				r.LastHit, r.IdleFrom = now, now
				grew[fam] += c.Packets - r.Packets
			case c.Packets < r.Packets:
				// Reset: the entry was made again at some moment of the
				// interval; what it counted before that is lost.
				seen = false
				if c.Packets > 0 {
					r.LastHit, r.IdleFrom = now, now
					grew[fam] += c.Packets
				}
			}
			r.Packets, r.Bytes = c.Packets, c.Bytes
		}
		if !seen {
			r.IdleFrom = b.unaged(r.IdleFrom, now)
		}
		next[e.Prefix] = r
	}
	b.Records = next
	b.Sampled = now
	return grew
}

// unaged moves from, an idle start, forward over the interval from the
// last sample to now, so that the interval does not count as idle.
func (b *Book) unaged(from, now time.Time) time.Time {
	switch {
	case b.Sampled.IsZero() || !from.Before(b.Sampled):
		return now
	default:
		return from.Add(now.Sub(b.Sampled))
	}
}

// Idle returns how long e has been idle at now: since its IdleFrom when
// the Book knows it, since it was added otherwise (a block never seen hit
// ages from when it was added; a line without a time, from now).
func (b *Book) Idle(e blocklist.Entry, now time.Time) time.Duration {
	from := e.Added
	if r, ok := b.Records[e.Prefix]; ok {
		from = r.IdleFrom
	}
	if from.IsZero() || from.After(now) {
		return 0
	}
	return now.Sub(from)
}

// Auto reports whether e is an automatic block: an offender the daemon
// found in the log (a single address, with a time, neither `ban` nor a
// fleet record nor a range). Only automatic blocks are unblocked when
// idle, unless idle-unblock-manual says the others are too.
func Auto(e blocklist.Entry) bool {
	return !e.Manual && !e.Added.IsZero() && e.Prefix.IsSingleIP() && len(e.Jails) > 0 && !isFleet(e)
}

// Unblockable reports whether idle-unblock may remove e: an automatic
// block, or with manualToo any block but a fleet record (another host's
// decision, which the fleet would only bring back).
func Unblockable(e blocklist.Entry, manualToo bool) bool {
	if isFleet(e) {
		return false
	}
	return manualToo || Auto(e)
}

// isFleet reports whether e came from another host of the fleet (its
// free text starts with "fleet:", as daemon.ApplyFleet writes it).
func isFleet(e blocklist.Entry) bool {
	n := e.Note()
	return len(n) >= len("fleet:") && n[:len("fleet:")] == "fleet:"
}

// IdleReported are the idle times status and the metrics count blocks
// over.
var IdleReported = []time.Duration{30 * 24 * time.Hour, 90 * 24 * time.Hour}

// IdleOver counts, for each of limits, the entries of es idle longer than
// it at now.
func IdleOver(b *Book, es []blocklist.Entry, now time.Time, limits ...time.Duration) []int {
	out := make([]int, len(limits))
	for _, e := range es {
		idle := b.Idle(e, now)
		for i, l := range limits {
			if idle > l {
				out[i]++
			}
		}
	}
	return out
}

// DaysLabel writes an idle time for people: whole days as "30d", anything
// else as time.Duration does ("36h0m0s").
func DaysLabel(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}
