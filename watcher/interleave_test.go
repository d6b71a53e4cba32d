package watcher

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rotWorld is a log written and rotated one file-system step at a time, so
// that a test decides exactly where a Follower's reads fall between them:
// the writer's appends (each may become visible in two parts, as a write
// does to a concurrent reader), and each rename, copy, truncation and
// compression of a rotation, as the reliability suite's rotations do them.
// The writer pauses during a rotation, as fail2ban's logger is between
// records, so only the Follower's reads interleave with a rotation's steps.
type rotWorld struct {
	t     *testing.T
	rng   *rand.Rand
	path  string
	n     int
	base  time.Time
	sent  []string
	steps []func() // what is still to happen, in order
	trace []string // what happened, for a failure's message
}

func (w *rotWorld) note(format string, a ...any) {
	w.trace = append(w.trace, fmt.Sprintf(format, a...))
}

func (w *rotWorld) short(p string) string {
	return strings.TrimPrefix(p, w.path[:len(w.path)-len("fail2ban.log")])
}

func newRotWorld(t *testing.T, seed uint64) *rotWorld {
	return &rotWorld{
		t: t, rng: rand.New(rand.NewPCG(seed, 4)),
		path: t.TempDir() + "/fail2ban.log",
		base: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC),
	}
}

// step does the next thing still to happen; false when there is none.
func (w *rotWorld) step() bool {
	if len(w.steps) == 0 {
		return false
	}
	s := w.steps[0]
	w.steps = w.steps[1:]
	s()
	return true
}

// then queues steps after those queued; now puts them first (a step that
// expands into the steps it stands for, once the state it needs exists).
func (w *rotWorld) then(s ...func()) { w.steps = append(w.steps, s...) }
func (w *rotWorld) now(s ...func())  { w.steps = append(s, w.steps...) }

func (w *rotWorld) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *rotWorld) appendRaw(path string, data []byte) {
	w.note("append %d bytes to %s", len(data), w.short(path))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	w.must(err)
	_, err = f.Write(data)
	w.must(err)
	w.must(f.Close())
}

// write queues k lines appended to the log at its path in one write that
// a reader may see in two parts.
func (w *rotWorld) write(k int) {
	var b bytes.Buffer
	for range k {
		w.n++
		line := banLine(w.base.Add(time.Duration(w.n)*time.Millisecond), "sshd", w.n)
		w.sent = append(w.sent, line)
		b.WriteString(line + "\n")
	}
	data := b.Bytes()
	cut := w.rng.IntN(len(data) + 1)
	w.then(func() { w.appendRaw(w.path, data[:cut]) }, func() { w.appendRaw(w.path, data[cut:]) })
}

func (w *rotWorld) sibling(n int) (string, bool) {
	p := w.path + "." + strconv.Itoa(n)
	if _, err := os.Stat(p); err == nil {
		return p, true
	}
	if _, err := os.Stat(p + ".gz"); err == nil {
		return p + ".gz", true
	}
	return "", false
}

// shift is the renames of log.N[.gz] to log.N+1[.gz], oldest first.
func (w *rotWorld) shift() []func() {
	top := 0
	for {
		if _, ok := w.sibling(top + 1); !ok {
			break
		}
		top++
	}
	var s []func()
	for n := top; n >= 1; n-- {
		from, _ := w.sibling(n)
		to := w.path + "." + strconv.Itoa(n+1)
		if strings.HasSuffix(from, ".gz") {
			to += ".gz"
		}
		s = append(s, func() { w.note("mv %s %s", w.short(from), w.short(to)); w.must(os.Rename(from, to)) })
	}
	return s
}

// create queues logrotate's create: mv log log.1, a new empty log.
func (w *rotWorld) create() {
	w.then(func() {
		w.now(append(w.shift(),
			func() { w.note("mv log log.1"); w.must(os.Rename(w.path, w.path+".1")) },
			func() { w.note("create log"); w.must(os.WriteFile(w.path, nil, 0o644)) })...)
	})
}

// copyTruncate queues logrotate's copytruncate: the copy log.1 is written
// in two parts, then the log truncated.
func (w *rotWorld) copyTruncate() {
	w.then(func() {
		data, err := os.ReadFile(w.path)
		w.must(err)
		cut := w.rng.IntN(len(data) + 1)
		w.now(append(w.shift(),
			func() { w.appendRaw(w.path+".1", data[:cut]) },
			func() { w.appendRaw(w.path+".1", data[cut:]) },
			func() { w.note("truncate log"); w.must(os.Truncate(w.path, 0)) })...)
	})
}

// compress queues the gzip of every plain log.N with N ≥ 2: the .gz is
// written in two parts, given the original's mtime when keepMtime, and
// the original removed.
func (w *rotWorld) compress(keepMtime bool) {
	w.then(func() {
		var s []func()
		for n := 2; ; n++ {
			p, ok := w.sibling(n)
			if !ok {
				break
			}
			if strings.HasSuffix(p, ".gz") {
				continue
			}
			data, err := os.ReadFile(p)
			w.must(err)
			st, err := os.Stat(p)
			w.must(err)
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			_, err = zw.Write(data)
			w.must(err)
			w.must(zw.Close())
			gz := z.Bytes()
			cut := w.rng.IntN(len(gz) + 1)
			s = append(s,
				func() { w.appendRaw(p+".gz", gz[:cut]) },
				func() { w.appendRaw(p+".gz", gz[cut:]) },
				func() {
					if keepMtime {
						w.must(os.Chtimes(p+".gz", st.ModTime(), st.ModTime()))
					}
					w.note("rm %s", w.short(p))
					w.must(os.Remove(p))
				})
		}
		w.now(s...)
	})
}

// rotate queues the i-th rotation of the reliability suite's cycle: the
// kinds that keep the mtime, then those that do not.
func (w *rotWorld) rotate(i int) string {
	kinds := []struct {
		name string
		do   func()
	}{
		{"copytruncate", w.copyTruncate},
		{"create", w.create},
		{"create + gzip keeping the mtime", func() { w.create(); w.compress(true) }},
		{"back-to-back create, create + gzip keeping the mtime", func() { w.create(); w.create(); w.compress(true) }},
		{"copytruncate + gzip with a fresh mtime", func() { w.copyTruncate(); w.compress(false) }},
		{"create + gzip with a fresh mtime", func() { w.create(); w.compress(false) }},
		{"back-to-back create, create + gzip with a fresh mtime", func() { w.create(); w.create(); w.compress(false) }},
	}
	k := kinds[i%len(kinds)]
	k.do()
	return k.name
}

// A Follower that falls behind the writer by any amount, at any step of any
// rotation the reliability suite does (its reads land between any two file
// system steps, and between the batches it hands on), still delivers every
// line once, whole, and never a line that was not written.
func TestFollowerLaggingAtAnyStepOfARotationDeliversEveryLineOnce(t *testing.T) {
	// Seeds that found a race the first 100 do not: a half-written first
	// line taken for a copy's (576), a copy holding less than a line read
	// as a missed rotation (992).
	seeds := []uint64{576, 992}
	for seed := range uint64(100) {
		seeds = append(seeds, seed)
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			followLaggingThroughRotations(t, seed)
		})
	}
}

func followLaggingThroughRotations(t *testing.T, seed uint64) {
	w := newRotWorld(t, seed)
	// The daemon starts on a log with lines in it. (A follower that has read
	// nothing at all of a file before it is copytruncated cannot tell that
	// it was: that is left out here.)
	w.write(2)
	for w.step() {
	}
	f, err := NewFollower(FollowConfig{Path: w.path, MaxLine: MaxLineLength, Logger: slog.New(slog.NewTextHandler(traceWriter{w}, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == "log" {
			return slog.Attr{}
		}
		if a.Key == "file" {
			a.Value = slog.StringValue(w.short(a.Value.String()))
		}
		return a
	}}))})
	w.must(err)
	defer f.closeCur()
	var got []string
	lag := w.rng.Float64() // how often the world moves on while a batch is handed on
	emit := func(batch []Line) error {
		for _, l := range batch {
			got = append(got, string(l.Text))
		}
		w.note("  emit %d lines (ino %d): %.40q … %.60q", len(batch), batch[0].File.Ino, batch[0].Text, batch[len(batch)-1].Text)
		for w.rng.Float64() < lag && w.step() {
		}
		return nil
	}
	check := func() {
		w.note("check")
		if err := f.check(emit); err != nil {
			t.Fatalf("check: %v\n%s", err, strings.Join(w.trace, "\n"))
		}
	}
	check()
	for i := range 8 {
		for range 1 + w.rng.IntN(3) {
			w.write(1 + w.rng.IntN(20))
		}
		w.note("rotation: %s", w.rotate(i))
		for w.step() {
			if w.rng.Float64() < 0.3 {
				check()
			}
		}
	}
	w.write(3)
	for w.step() {
	}
	check()
	check()
	if d := lineDiff(got, w.sent); d != "" {
		t.Errorf("seed %d: %s\ntrace:\n%s", seed, d, strings.Join(w.trace, "\n"))
	}
}

// traceWriter writes the Follower's log into the world's trace.
type traceWriter struct{ w *rotWorld }

func (tw traceWriter) Write(p []byte) (int, error) {
	tw.w.note("  follower: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

// lineDiff describes how got differs from want, each line once: the lines
// missing, delivered twice, or never written.
func lineDiff(got, want []string) string {
	count := map[string]int{}
	for _, l := range got {
		count[l]++
	}
	var missing, twice, foreign []string
	var mi, ti []int
	for i, l := range want {
		switch count[l] {
		case 0:
			missing = append(missing, l)
			mi = append(mi, i+1)
		case 1:
		default:
			twice = append(twice, l)
			ti = append(ti, i+1)
		}
		delete(count, l)
	}
	for l := range count {
		foreign = append(foreign, fmt.Sprintf("%q", l))
	}
	if len(missing)+len(twice)+len(foreign) == 0 {
		return ""
	}
	return fmt.Sprintf("%d lines written, %d delivered: %d missing %v, %d more than once %v, %d never written %v",
		len(want), len(got), len(missing), ranges(mi), len(twice), ranges(ti), len(foreign), foreign)
}

// ranges writes ascending line numbers as runs: 3-7 9.
func ranges(ns []int) string {
	var b strings.Builder
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", ns[i], ns[j])
		} else {
			fmt.Fprint(&b, ns[i])
		}
		i = j + 1
	}
	return "[" + b.String() + "]"
}

// followerAt returns a Follower of path that has read what path holds, and
// the lines it delivered; hook, if set, runs after each batch is handed on.
func followerAt(t *testing.T, path string, hook *func()) (*Follower, func() error, *[]string) {
	t.Helper()
	f, err := NewFollower(FollowConfig{Path: path, MaxLine: MaxLineLength, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.closeCur)
	var got []string
	emit := func(batch []Line) error {
		for _, l := range batch {
			got = append(got, string(l.Text))
		}
		if *hook != nil {
			h := *hook
			*hook = nil
			h()
		}
		return nil
	}
	check := func() error { return f.check(emit) }
	if err := check(); err != nil {
		t.Fatal(err)
	}
	return f, check, &got
}

// linesOf appends n new Ban lines numbered from *k on to the file at path
// and returns them.
func linesOf(t *testing.T, path string, k *int, n int) []string {
	t.Helper()
	var out []string
	var b strings.Builder
	for range n {
		*k++
		l := banLine(time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC).Add(time.Duration(*k)*time.Second), "sshd", *k)
		out = append(out, l)
		b.WriteString(l + "\n")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	return out
}

// The writer moved to a new file the follower has not looked at yet, and
// logrotate's copytruncate of that file is under way (the copy half
// written) when the follower looks: the copy is no missed rotation to read
// whole (half a line, then the file itself again), and the file's lines
// arrive once each.
func TestACopytruncateOfTheFileMovedToIsNoMissedRotation(t *testing.T) {
	path := t.TempDir() + "/fail2ban.log"
	k := 0
	want := linesOf(t, path, &k, 2)
	var hook func()
	_, check, got := followerAt(t, path, &hook)
	mustRename(t, path, path+".1")
	want = append(want, linesOf(t, path, &k, 3)...)
	mustRename(t, path+".1", path+".2")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", data[:len(data)-20], 0o644); err != nil { // the copy, half written
		t.Fatal(err)
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", data, 0o644); err != nil { // the copy written
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	want = append(want, linesOf(t, path, &k, 1)...)
	if err := check(); err != nil {
		t.Fatal(err)
	}
	if d := lineDiff(*got, want); d != "" {
		t.Error(d)
	}
}

// Two rotations went by unread, and while the first file in between is
// read (its lines handed on, which may take long) a third rotation renames
// the second: that file is still read, and no other file in its place.
func TestAMissedRotationRenamedWhileAnotherIsReadIsStillRead(t *testing.T) {
	path := t.TempDir() + "/fail2ban.log"
	k := 0
	want := linesOf(t, path, &k, 2)
	var hook func()
	_, check, got := followerAt(t, path, &hook)
	rotate := func() {
		for n := 3; n >= 1; n-- {
			if _, err := os.Stat(path + "." + strconv.Itoa(n)); err == nil {
				mustRename(t, path+"."+strconv.Itoa(n), path+"."+strconv.Itoa(n+1))
			}
		}
		mustRename(t, path, path+".1")
	}
	for range 3 {
		rotate()
		want = append(want, linesOf(t, path, &k, 2)...)
	}
	hook = func() { // during the first file in between
		rotate()
		want = append(want, linesOf(t, path, &k, 2)...)
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		t.Fatal("no batch was handed on during the check")
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}
	if d := lineDiff(*got, want); d != "" {
		t.Error(d)
	}
}
