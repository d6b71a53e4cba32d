package doctor

import (
	"fmt"
	"slices"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/internal/sample"
	"github.com/recidivist/recidivist/ipsetstore"
)

// checkDrift compares the sets with the mirror.
func (d *Doctor) checkDrift(store ipsetstore.Store) {
	if d.mirrorErr != nil {
		return // checkMirror explains it
	}
	inKernel, err := store.List()
	if err != nil {
		d.problem(fmt.Sprintf("listing the sets: %v", err), "sudo recidivist restore")
		return
	}
	// What the mirror puts in the kernel: net ranges hide their members
	// and add a nomatch entry for each hole.
	want := daemon.KernelEntries(d.mirror, d.now)
	// Only presence counts here: a timeout or comment the reconcile would
	// rewrite blocks all the same.
	plan, err := ipsetstore.Diff(inKernel, want)
	ch := plan.Changes()
	if err != nil {
		d.problem(fmt.Sprintf("comparing the sets with the mirror: %v", err), "sudo recidivist restore")
		return
	}
	missing := make([]string, len(ch.Add))
	for i, e := range ch.Add {
		missing[i] = e.Prefix.String()
	}
	extra := make([]string, len(ch.Del))
	for i, p := range ch.Del {
		extra[i] = p.String()
	}
	if len(missing) == 0 && len(extra) == 0 {
		d.ok("sets hold exactly the mirror's %d entries", len(inKernel))
		return
	}
	slices.Sort(missing)
	slices.Sort(extra)
	fix := "sudo recidivist restore makes the sets equal the mirror (a running daemon does it within reconcile-interval " +
		config.FormatDuration(d.cfg.ReconcileInterval) + "; if the drift stays, read its log)"
	if len(missing) > 0 {
		d.problem(fmt.Sprintf("%d mirror entries are not in the sets: %s", len(missing), sample.List(missing)), fix)
	}
	if len(extra) > 0 {
		d.problem(fmt.Sprintf("%d set entries are not in the mirror: %s", len(extra), sample.List(extra)), fix)
	}
}
