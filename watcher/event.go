package watcher

import (
	"net/netip"
	"time"
)

// Ban is one countable ban read from fail2ban's log: jail JAIL banned ADDR at
// Time, the timestamp written in the line (not the time it was read).
type Ban struct {
	Time time.Time
	Jail string     // interned by the Parser; never empty
	Addr netip.Addr // valid, unicast, IPv4-mapped addresses unmapped
}
