package ipsetstore

import (
	"net/netip"
	"time"
)

// Entry is one member of a set: a single address (a /32 or /128 prefix) or a
// range.
type Entry struct {
	// Prefix is the address or range; it is stored masked (10.1.2.3/16 is
	// 10.1.0.0/16).
	Prefix netip.Prefix
	// Timeout is how long the entry stays, 0 meaning permanent. On entries
	// returned by List it is the time remaining, in whole seconds.
	Timeout time.Duration
	// Comment travels with the entry in the kernel (ipset list shows it);
	// the kernel keeps at most 255 bytes of it.
	Comment string
	// NoMatch makes the entry a hole: an address or range inside a wider
	// entry of the set that the set does not match, so that its packets
	// pass (ipset's nomatch; the nftables backend splits the range's
	// interval around it). A hole outside every range blocks nothing.
	NoMatch bool
}

// Store is the kernel side as the rest of recidivist sees it: two sets
// (inet and inet6) and one match rule per configured chain and family.
// Every method is idempotent.
type Store interface {
	// Ensure makes the sets and rules exist and be right, and reports what
	// it had to create or fix.
	Ensure() (Repairs, error)
	// EnsureRules puts in and fixes the match rules, like Ensure, of
	// every family whose set exists, and creates or changes no set: for a
	// firewall's hook that runs after it flushed the chains (ufw's
	// after.init), where the sets and their entries survived. Families
	// whose set is missing are named in Repairs.SetsMissing; a rule
	// naming a set that does not exist cannot be inserted.
	EnsureRules() (Repairs, error)
	// Add puts each entry into the set of its family, as few round trips
	// to the kernel as the backend allows. Adding an entry that is already
	// there updates its timeout and comment. A full set is an error
	// matching ErrSetFull; an error names the entry refused, and the
	// entries before it may be in the sets.
	Add(es ...Entry) error
	// Del removes the entry for each prefix (holes too); deleting an
	// absent entry is not an error.
	Del(ps ...netip.Prefix) error
	// Exchange adds add and deletes del so that no packet meets neither:
	// a range takes over from the entries it covers (or they from it)
	// without an instant in which their addresses pass. ipset adds first,
	// then deletes; nftables, which holds no overlapping intervals, does
	// both in one transaction. Errors are Add's and Del's.
	Exchange(add []Entry, del []netip.Prefix) error
	// List returns the entries of both sets, IPv4 first.
	List() ([]Entry, error)
	// Replace makes the sets hold exactly entries, atomically: packets
	// always meet either the old or the new content. progress, unless nil,
	// hears how many entries each batch the kernel has taken held (a
	// million entries take seconds); together they add up to len(entries)
	// when Replace succeeds.
	Replace(entries []Entry, progress func(added int)) error
	// Status reports the sets and rules as they are, changing nothing.
	Status() (Status, error)
	// Teardown removes the rules, then the sets; absent ones are skipped.
	Teardown() error
}

// Family is the address family of a set and of the rules that match it.
type Family uint8

// The two families, each with its own set and its own rules.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// Families lists both families in the order the store handles them.
var Families = []Family{IPv4, IPv6}

// String returns "inet" or "inet6", the names ipset uses.
func (f Family) String() string {
	if f == IPv6 {
		return "inet6"
	}
	return "inet"
}

// FamilyOf returns the family whose set holds p.
func FamilyOf(p netip.Prefix) Family {
	if p.Addr().Is4() {
		return IPv4
	}
	return IPv6
}
