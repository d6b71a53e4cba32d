package watcher

import (
	"net/netip"

	"github.com/recidivist/recidivist/internal/addr"
)

// Filter decides which countable bans are counted: by jail (jails,
// exclude-jails) and by address (ignore). It is read-only after NewFilter,
// so one Filter may be shared by goroutines; a config reload builds a new one.
type Filter struct {
	jails   map[string]struct{} // nil: every jail
	exclude map[string]struct{}
	ignore  []netip.Prefix
}

// NewFilter builds a Filter. An empty jails counts every jail; excludeJails
// wins over jails (the caller passes the configured exclude-jails, whose
// default "recidive" is the config's business, not this one's). ignore
// lists addresses and ranges never counted; 127.0.0.0/8 and ::1 are always
// added. IPv4-mapped IPv6 prefixes (::ffff:10.0.0.0/104) are folded to IPv4,
// as the Parser folds addresses.
func NewFilter(jails, excludeJails []string, ignore []netip.Prefix) *Filter {
	f := &Filter{exclude: jailSet(excludeJails)}
	if len(jails) > 0 {
		f.jails = jailSet(jails)
	}
	for _, p := range append(append([]netip.Prefix(nil), addr.AlwaysIgnored...), ignore...) {
		if !p.IsValid() {
			continue // the zero Prefix matches nothing; config validation reports bad input
		}
		f.ignore = append(f.ignore, addr.Canonical(p))
	}
	return f
}

func jailSet(names []string) map[string]struct{} {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m[n] = struct{}{}
	}
	return m
}

// Allow reports whether b counts: its jail is selected and not excluded,
// and its address is in no ignored range.
func (f *Filter) Allow(b Ban) bool {
	if _, ok := f.exclude[b.Jail]; ok {
		return false
	}
	if f.jails != nil {
		if _, ok := f.jails[b.Jail]; !ok {
			return false
		}
	}
	addr := b.Addr.Unmap()
	for _, p := range f.ignore {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}
