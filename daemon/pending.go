package daemon

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/recidivist/recidivist/ipsetstore"
)

// pendingChains remembers the configured chains an Ensure found missing
// (DOCKER-USER before Docker starts), so that each is warned about once,
// and once more only after it appeared and went again. The reconcile puts
// the rule in as soon as the chain exists: its status changes, so the next
// interval's quick check fails and the full reconcile ensures the rules.
type pendingChains struct {
	warned map[string]bool // "DOCKER-USER/inet" → warned about
}

// note warns of the chains of r that are newly pending and forgets those
// that are not pending any more.
func (p *pendingChains) note(log *slog.Logger, r ipsetstore.Repairs) {
	var fresh []string
	now := make(map[string]bool, len(r.Pending))
	for _, where := range r.Pending {
		now[where] = true
		if !p.warned[where] {
			fresh = append(fresh, where)
		}
	}
	p.warned = now
	if len(fresh) > 0 {
		slices.Sort(fresh)
		log.Warn("chain does not exist yet: its rule goes in as soon as the chain appears (Docker creates DOCKER-USER when it starts); the sets are in force meanwhile",
			"pending", strings.Join(fresh, ","))
	}
}
