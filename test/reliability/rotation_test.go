package reliability

import (
	"compress/gzip"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rotation is one way a log gets rotated, as logrotate or a script does it.
type rotation struct {
	name string
	do   func(l *rotated) error
}

// rotations are the kinds the rotation scenario cycles through: the first
// keptMtime keep a rotated file's mtime, as logrotate does.
const keptMtime = 4

var rotations = []rotation{
	{"copytruncate", func(l *rotated) error { return l.copyTruncate() }},
	{"create", func(l *rotated) error { return l.create() }},
	{"create + gzip keeping the mtime (logrotate's delaycompress)", func(l *rotated) error {
		return l.then(l.create(), func() error { return l.compress(true) })
	}},
	{"back-to-back create, create + gzip keeping the mtime", func(l *rotated) error {
		return l.then(l.create(), l.create, func() error { return l.compress(true) })
	}},
	// From here on the .gz gets a fresh mtime (item 4).
	{"copytruncate + gzip -c f > f.gz; rm f (fresh mtime)", func(l *rotated) error {
		return l.then(l.copyTruncate(), func() error { return l.compress(false) })
	}},
	{"create + gzip -c f > f.gz; rm f (fresh mtime)", func(l *rotated) error {
		return l.then(l.create(), func() error { return l.compress(false) })
	}},
	{"back-to-back create, create + gzip -c (fresh mtime)", func(l *rotated) error {
		return l.then(l.create(), l.create, func() error { return l.compress(false) })
	}},
}

// rotated is a log and its rotated siblings log.1, log.2.gz, …
type rotated struct {
	path string
	n    int // rotations done (back-to-back ones count each)
}

func (l *rotated) then(err error, steps ...func() error) error {
	for _, s := range steps {
		if err != nil {
			return err
		}
		err = s()
	}
	return err
}

// sibling is log.n, with .gz when that is what exists.
func (l *rotated) sibling(n int) (string, bool) {
	p := l.path + "." + strconv.Itoa(n)
	if _, err := os.Stat(p); err == nil {
		return p, true
	}
	if _, err := os.Stat(p + ".gz"); err == nil {
		return p + ".gz", true
	}
	return "", false
}

// shift renames log.N[.gz] to log.N+1[.gz], oldest first.
func (l *rotated) shift() error {
	top := 0
	for {
		if _, ok := l.sibling(top + 1); !ok {
			break
		}
		top++
	}
	for n := top; n >= 1; n-- {
		from, _ := l.sibling(n)
		to := l.path + "." + strconv.Itoa(n+1)
		if strings.HasSuffix(from, ".gz") {
			to += ".gz"
		}
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("rotating: %w", err)
		}
	}
	return nil
}

// create is logrotate's default: mv log log.1, a new empty log.
func (l *rotated) create() error {
	if err := l.shift(); err != nil {
		return err
	}
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return fmt.Errorf("rotating: %w", err)
	}
	l.n++
	return os.WriteFile(l.path, nil, 0o644)
}

// copyTruncate is logrotate's copytruncate: copy log to log.1, truncate
// log in place.
func (l *rotated) copyTruncate() error {
	if err := l.shift(); err != nil {
		return err
	}
	data, err := os.ReadFile(l.path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.path+".1", data, 0o644); err != nil {
		return err
	}
	l.n++
	return os.Truncate(l.path, 0)
}

// compress gzips every plain log.N with N ≥ 2 and removes it. keepMtime
// gives the .gz the original's mtime, as gzip(1) and logrotate do; without
// it the .gz is a new file (`gzip -c f > f.gz; rm f`, pigz -c, scripts).
func (l *rotated) compress(keepMtime bool) error {
	for n := 2; ; n++ {
		p, ok := l.sibling(n)
		if !ok {
			return nil
		}
		if strings.HasSuffix(p, ".gz") {
			continue
		}
		if err := gzipFile(p, keepMtime); err != nil {
			return err
		}
	}
}

func gzipFile(p string, keepMtime bool) error {
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close() //nolint:errcheck // read only
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(p+".gz", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		out.Close() //nolint:errcheck // the copy error is the one to report
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close() //nolint:errcheck // the gzip error is the one to report
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if keepMtime {
		if err := os.Chtimes(p+".gz", st.ModTime(), st.ModTime()); err != nil {
			return err
		}
	}
	return os.Remove(p)
}

// files are the log and its siblings, oldest first, as scan wants them.
func (l *rotated) files() []string {
	var fs []string
	for n := 1; ; n++ {
		p, ok := l.sibling(n)
		if !ok {
			break
		}
		fs = append([]string{p}, fs...)
	}
	return append(fs, l.path)
}

// testRotation writes a stream of Ban lines while rotating the log every
// few hundred lines, first in the ways that keep a rotated file's mtime
// (logrotate's), then in the ways that do not (item 4), and after each
// phase compares the kernel and the mirror with the generator's count and
// with scan of all the files.
func testRotation(t *testing.T) {
	const every = 12 // batches of 25 lines between rotations
	r := newRig(t, "rot", "--threshold", "3", "--window", "1w")
	r.runFlags = []string{"--reconcile-interval", "5s"}
	r.start()
	r.ready()

	l := &rotated{path: r.log}
	want := map[netip.Prefix]string{}
	lines := 0
	var summary []string
	var last verdict
	for i, phase := range []struct {
		name  string
		kinds []rotation
	}{
		{"mtime kept", rotations[:keptMtime]},
		{"fresh mtime", rotations[keptMtime:]},
	} {
		pop := newPopulation(3+i, 800, 500)
		evs := pop.events(uint64(3 + i))
		lines += len(evs)
		maps.Copy(want, pop.want())
		before := l.n
		err := stream(r.log, evs, 25, 700, func(k int) error {
			if k == 0 || k%every != 0 {
				return nil
			}
			rot := phase.kinds[(k/every-1)%len(phase.kinds)]
			t.Logf("%s %s: rotation %d: %s", time.Now().UTC().Format("15:04:05.000"), phase.name, l.n+1, rot.name)
			return rot.do(l)
		})
		if err != nil {
			t.Fatal(err)
		}
		v, took := r.converge(want, 90*time.Second)
		t.Logf("%s: after %d rotations (converged in %v): %v", phase.name, l.n-before, took.Round(time.Millisecond), v)
		r.alive()
		if !v.ok() {
			t.Errorf("after %d rotations (%s): %v\nthe daemon's rotation notices:\n%s", l.n-before, phase.name, v, r.d.without("blocked offender", 40))
		}
		scanned, diff := r.scanAgrees(want, l.files()...)
		if len(diff) > 0 {
			t.Errorf("scan of %d files disagrees with the generator:\n\t%s", len(l.files()), first(diff, 10))
		}
		summary = append(summary, fmt.Sprintf("%s: %d rotations, %s offenders so far (scan: %s), %d missed, %d wrong, %d double",
			phase.name, l.n-before, commas(len(want)), commas(scanned), v.missed-last.missed, v.wrong-last.wrong, v.double-last.double))
		last = v
	}
	t.Logf("reliability: rotation: %s lines, %s", commas(lines), strings.Join(summary, "; "))
}
