package doctor

import (
	"context"
	"time"

	"github.com/recidivist/recidivist/fleet"
)

// checkFleet checks the link to the fleet's Redis when fleet-redis is set:
// reachable, the credentials (WRONGPASS), every command of the ACL (NOPERM,
// naming the refused ones), the fleet's stored rule against this host's
// threshold, window and ban-time, and the clock skew against Redis's TIME.
// A broken link is a problem (the fleet does not share as configured, local
// blocking goes on); a different rule or a skewed clock is a warning.
func (d *Doctor) checkFleet() {
	if !d.cfg.Fleet.On() {
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	for _, f := range fleet.Check(ctx, fleet.CheckOptions{
		Fleet: d.cfg.Fleet.Options(),
		Local: fleet.Rule{Threshold: d.cfg.Threshold, Window: d.cfg.Window, BanTime: d.cfg.BanTime},
		Now:   d.clock,
	}) {
		switch f.Level {
		case fleet.OK:
			d.ok("%s", f.What)
		case fleet.Warning:
			d.warn(f.What, f.Fix)
		default:
			d.problem(f.What, f.Fix)
		}
	}
}
