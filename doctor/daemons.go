package doctor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/recidivist/recidivist/internal/nofollow"
	"github.com/recidivist/recidivist/statedir"
)

// checkDaemons says whether a daemon holds the lock of the state directory
// and finds any other daemon in this network namespace on the same sets.
func (d *Doctor) checkDaemons() {
	holder, held, err := statedir.ReadHolder(d.cfg.StateDir)
	if errors.Is(err, nofollow.ErrSymlink) {
		return // checkStateFiles explains it
	}
	if err != nil {
		d.problem(fmt.Sprintf("reading the daemon's lock: %v", err), "run recidivist check as root")
		return
	}
	if held {
		d.ok("daemon: running (PID %d) on %s", holder.PID, d.cfg.StateDir)
	} else {
		d.note("daemon: not running on %s; blocks stay in force but new offenders are not added (systemctl start recidivist)", d.cfg.StateDir)
	}
	for _, o := range statedir.Daemons(d.procDir) {
		if o.PID == d.self || o.PID == holder.PID {
			continue
		}
		if !sameNetns(d.procDir, d.self, o.PID) {
			d.note("recidivist daemon (PID %d, state dir %s) runs in another network namespace: its sets and rules are its own", o.PID, o.StateDir)
			continue
		}
		set := o.SetName
		if set == "" {
			set = d.cfg.SetName // a lock of the previous release: assume the same config file
		}
		if set != d.cfg.SetName {
			d.note("another recidivist daemon (PID %d, state dir %s) manages other sets (%s)", o.PID, o.StateDir, set)
			continue
		}
		d.problem(fmt.Sprintf("another recidivist daemon (PID %d, state dir %s) manages the same sets %s and %s6: each undoes the other's blocks", o.PID, o.StateDir, set, set),
			"stop one of them (kill "+strconv.Itoa(o.PID)+"), or give each its own set-name")
	}
}

// sameNetns reports whether processes a and b share a network namespace,
// by the identity of their /proc/PID/ns/net links. When either cannot be
// read (a process gone, a /proc of a test) it answers true: a possible rival
// is reported rather than hidden.
func sameNetns(procDir string, a, b int) bool {
	na, errA := os.Readlink(filepath.Join(procDir, strconv.Itoa(a), "ns", "net"))
	nb, errB := os.Readlink(filepath.Join(procDir, strconv.Itoa(b), "ns", "net"))
	return errA != nil || errB != nil || na == nb
}
