package statedir

import (
	"os"
	"path/filepath"
	"strconv"
)

// Daemons lists the recidivist daemons of this host, each as the lock it
// holds describes it, whatever its state dir: a process under procDir
// (/proc) with a daemon lock open that it holds, and whose PID the lock
// names. A daemon that has not taken its lock yet, or whose lock this
// process cannot see (another mount namespace, or no privilege to read
// other processes' open files), is not listed.
func Daemons(procDir string) []Holder {
	procs, err := os.ReadDir(procDir)
	if err != nil {
		return nil
	}
	var out []Holder
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if h, ok := lockOf(filepath.Join(procDir, p.Name(), "fd"), pid); ok {
			out = append(out, h)
		}
	}
	return out
}

// lockOf finds, among the open files in fdDir, a daemon lock that process
// pid holds.
func lockOf(fdDir string, pid int) (Holder, bool) {
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return Holder{}, false // gone, or not ours to look at
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err != nil || filepath.Base(target) != LockFile || !filepath.IsAbs(target) {
			continue
		}
		h, held, err := ReadHolder(filepath.Dir(target))
		if err == nil && held && h.PID == pid {
			return h, true
		}
	}
	return Holder{}, false
}
