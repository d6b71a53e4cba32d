package fleet_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/recidivist/recidivist/fleet"
)

// offenders is the oracle of a stream of bans all inside one window: the
// addresses with at least threshold of them, sorted.
func offenders(count map[netip.Addr]int, threshold int) []string {
	var want []string
	for a, n := range count {
		if n >= threshold {
			want = append(want, a.String())
		}
	}
	slices.Sort(want)
	return want
}

// unequal says where the meeting point (read through ref) or a host's
// mirror differs from want, or "" when they all equal it.
func unequal(ref fleet.Fleet, hosts []*host, want []string) string {
	snap, err := ref.Snapshot(context.Background())
	if err != nil || !slices.Equal(blocked(snap.Records), want) {
		return fmt.Sprintf("redis: %v; %s", err, diff(blocked(snap.Records), want))
	}
	for _, h := range hosts {
		if !slices.Equal(h.blocked(), want) {
			return fmt.Sprintf("host %s: %s; writer %+v reader %+v", h.name, diff(h.blocked(), want), h.w.Status(), h.r.Status())
		}
	}
	return ""
}
