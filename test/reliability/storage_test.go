package reliability

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountNS is a private mount namespace held open by a sleeping process:
// mounts made in it are never seen by the host, and go with it.
type mountNS struct {
	holder *proc
	pid    string
}

// newMountNS starts the holder (`unshare -m`, private propagation) and
// waits until it is in its own mount namespace. t.Cleanup kills it.
func newMountNS(t *testing.T) *mountNS {
	t.Helper()
	m := &mountNS{holder: start(t, "unshare", "--mount", "--propagation", "private", "sleep", "3600")}
	m.pid = strconv.Itoa(m.holder.cmd.Process.Pid)
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := waitFor(10*time.Second, func() (bool, error) {
		ns, err := os.Readlink("/proc/" + m.pid + "/ns/mnt")
		return err == nil && ns != self, nil
	}); err != nil {
		t.Fatalf("unshare --mount did not make a mount namespace within 10s: %v", err)
	}
	return m
}

// mount runs mount(8) with args inside the namespace.
func (m *mountNS) mount(t *testing.T, args ...string) {
	t.Helper()
	res := run(t, append([]string{"nsenter", "-t", m.pid, "-m", "mount"}, args...)...)
	if res.code != 0 {
		t.Fatalf("mount %s in the private mount namespace: exit %d: %s", strings.Join(args, " "), res.code, res.stderr)
	}
}

// view is where the host sees path as the namespace does.
func (m *mountNS) view(path string) string { return filepath.Join("/proc", m.pid, "root", path) }

// fill writes a file at path until the file system is full and returns
// how many bytes it took.
func fill(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close() //nolint:errcheck // written until it fails; that failure is the point
	chunk := make([]byte, 16<<10)
	var n int64
	for {
		w, err := f.Write(chunk)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// testStorage runs the daemon with its state directory on a small tmpfs in
// a private mount namespace, fills it up, then remounts it read-only: the
// kernel keeps blocking new offenders, the mirror is never half-written,
// and it catches up once the space or write access returns.
func testStorage(t *testing.T) {
	r := newRig(t, "disk", "--threshold", "3", "--window", "1w")
	r.runFlags = []string{"--reconcile-interval", "2s"}
	mnt := newMountNS(t)
	if err := os.Mkdir(r.state, 0o700); err != nil {
		t.Fatal(err)
	}
	mnt.mount(t, "-t", "tmpfs", "-o", "size=1m,mode=0700", "rlbstate", r.state)
	r.stateView = mnt.view(r.state)
	r.wrap = []string{"nsenter", "-t", mnt.pid, "-m", "--net=/run/netns/" + r.ns.name}

	want := map[netip.Prefix]string{}
	phase := func(block int) map[netip.Prefix]string {
		p := newPopulation(block, 100, 50)
		p.writeAll(t, r.log, uint64(block))
		w := p.want()
		maps.Copy(want, w)
		return w
	}
	// kernelHolds waits until the kernel blocks every entry of w.
	kernelHolds := func(what string, w map[netip.Prefix]string) time.Duration {
		t.Helper()
		took, err := waitFor(60*time.Second, func() (bool, error) {
			k, err := r.ns.kernel(r.set)
			if err != nil {
				return false, err
			}
			for p := range w {
				if !k[p] {
					return false, fmt.Errorf("%s not in the kernel set", p)
				}
			}
			return true, nil
		})
		if err != nil {
			t.Errorf("%s: the kernel does not block every new offender within 60s: %v\n%s", what, err, r.d.tail(20))
		}
		return took
	}
	// mirrorWhole fails t unless the mirror parses fully and holds every
	// entry of before (what it held before the fault).
	mirrorWhole := func(what string, before map[netip.Prefix]string) int {
		t.Helper()
		m, bad, err := r.mirror()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(bad) > 0 {
			t.Errorf("%s: the mirror is half-written: %s", what, first(bad, 5))
		}
		for p := range before {
			if _, ok := m[p]; !ok {
				t.Errorf("%s: the mirror lost %s", what, p)
			}
		}
		return len(m)
	}

	r.start()
	phase(5)
	if v, _ := r.converge(want, 60*time.Second); !v.ok() {
		t.Fatalf("before any fault: %v\n%s", v, r.d.tail(30))
	}
	before := maps.Clone(want)

	// A full file system.
	filler := filepath.Join(r.stateView, "filler")
	size, err := fill(filler)
	if err != nil {
		t.Fatalf("filling the tmpfs: %v", err)
	}
	full := phase(6)
	kFull := kernelHolds("disk full", full)
	nFull := mirrorWhole("disk full", before)
	r.alive()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	v, caughtFull := r.converge(want, 90*time.Second)
	if !v.ok() {
		t.Errorf("after space returned: %v\n%s", v, r.d.tail(30))
	}
	t.Logf("disk full (%d KiB filler): kernel blocked %d new offenders in %v, mirror held %d entries meanwhile; caught up %v after space returned",
		size>>10, len(full), kFull.Round(time.Millisecond), nFull, caughtFull.Round(time.Millisecond))
	before = maps.Clone(want)

	// A read-only remount (as the kernel does after an I/O error). The
	// daemon holds its lock file open for writing, so the tmpfs itself
	// cannot be remounted read-only ("mount point is busy"): a read-only
	// bind mount over the state dir makes every new open and rename fail
	// with EROFS, which is what the daemon sees of a read-only remount.
	mnt.mount(t, "--bind", r.state, r.state)
	mnt.mount(t, "-o", "remount,bind,ro", r.state)
	ro := phase(7)
	kRO := kernelHolds("read-only", ro)
	nRO := mirrorWhole("read-only", before)
	r.alive()
	if res := run(t, "nsenter", "-t", mnt.pid, "-m", "umount", "--lazy", r.state); res.code != 0 {
		t.Fatalf("removing the read-only bind mount: exit %d: %s", res.code, res.stderr)
	}
	v, caughtRO := r.converge(want, 90*time.Second)
	if !v.ok() {
		t.Errorf("after the remount read-write: %v\n%s", v, r.d.tail(30))
	}
	t.Logf("read-only: kernel blocked %d new offenders in %v, mirror held %d entries meanwhile; caught up %v after the remount read-write",
		len(ro), kRO.Round(time.Millisecond), nRO, caughtRO.Round(time.Millisecond))

	// Nothing half-written: no temp file left behind, and a restart from
	// the state dir decides exactly as before.
	entries, err := os.ReadDir(r.stateView)
	if err != nil {
		t.Fatal(err)
	}
	var names, temps []string
	for _, e := range entries {
		names = append(names, e.Name())
		if strings.Contains(e.Name(), ".tmp") {
			temps = append(temps, e.Name())
		}
	}
	if len(temps) > 0 {
		t.Errorf("temp files left in the state dir after the faults: %v", temps)
	}
	r.alive()
	r.stop()
	r.start()
	r.sync()
	v = r.judge(want)
	if !v.ok() {
		t.Errorf("after a restart from the state dir that went through the faults (files %v): %v\n%s", names, v, r.d.tail(30))
	}
	t.Logf("reliability: storage: %d offenders; disk full: kernel %v, mirror caught up %v; read-only: kernel %v, mirror caught up %v; %d missed, %d wrong, %d double, %d temp files",
		len(want), kFull.Round(time.Millisecond), caughtFull.Round(time.Millisecond), kRO.Round(time.Millisecond), caughtRO.Round(time.Millisecond),
		v.missed, v.wrong, v.double, len(temps))
}
