package ipsetstore

// Counted is an entry with the packets and bytes its per-entry counter
// counted since the entry was (re-)added: the sets are made with ipset's
// `counters` option, the nftables backend's sets with per-element
// counters. A counter starts at 0 when its entry is added and is lost when
// the set is swapped, flushed or destroyed (and at a reboot); updating an
// existing entry (Add again) keeps it.
type Counted struct {
	Entry
	Packets, Bytes uint64
}

// Entries drops the counters of cs.
func Entries(cs []Counted) []Entry {
	out := make([]Entry, len(cs))
	for i, c := range cs {
		out[i] = c.Entry
	}
	return out
}

// Counter is a Store that can read the per-entry counters. Both kernel
// backends and the fake in ipsettest are one.
type Counter interface {
	// ListCounted is List with each entry's counters.
	ListCounted() ([]Counted, error)
}
