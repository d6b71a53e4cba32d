package watcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The restart test runs a Watcher in a child process (this test binary,
// re-executed), SIGKILLs it twice in the middle of a stream of lines, and
// compares what it finally holds with an offline ScanFiles of the same lines.

const (
	killHelperEnv = "RECIDIVIST_KILL_HELPER"
	// killMidAppendEnv=N makes the helper SIGKILL itself in the middle of
	// its Nth journal append, after half the record reached the disk.
	killMidAppendEnv = "RECIDIVIST_KILL_MID_APPEND"
	killThreshold    = 3
	killWindow       = 10 * time.Minute
)

// killConfig is the child's configuration; the offline count uses the same
// threshold, window, zone and exclusions. The child's clock stands still at the start of the stream: ScanFiles has
// no clock, and the Watcher ignores bans older than now-window.
func killConfig(logPath, stateDir string, now time.Time) Config {
	return Config{Logs: []string{logPath}, StateDir: stateDir, Threshold: killThreshold, Window: killWindow,
		Location: time.UTC, ExcludeJails: []string{"recidive"}, Now: func() time.Time { return now }}
}

// TestKillHelperProcess is the child of TestSIGKILLMidStreamLosesNothing;
// run directly, it skips.
func TestKillHelperProcess(t *testing.T) {
	if os.Getenv(killHelperEnv) != "1" {
		t.Skip("helper process of TestSIGKILLMidStreamLosesNothing")
	}
	out, err := os.OpenFile(os.Getenv("KILL_OUT"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	now, err := time.Parse(time.RFC3339Nano, os.Getenv("KILL_NOW"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.Atoi(os.Getenv(killMidAppendEnv)); err == nil {
		crashInAppend(n)
	}
	w, err := New(killConfig(os.Getenv("KILL_LOG"), os.Getenv("KILL_STATE"), now))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	err = w.RunBatch(ctx, func(batch []Offender) error {
		for _, o := range batch {
			b, err := json.Marshal(o)
			if err != nil {
				return err
			}
			if _, err := out.Write(append(b, '\n')); err != nil { // one write: a SIGKILL cannot split it
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// crashInAppend makes the nth journal append write half its record, sync
// it and SIGKILL the process.
func crashInAppend(n int) {
	write := writeRecord
	writeRecord = func(f *os.File, rec []byte) (int, error) {
		if n--; n > 0 {
			return write(f, rec)
		}
		if _, err := f.Write(rec[:len(rec)/2]); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGKILL); err != nil {
			return 0, err
		}
		select {} // the signal is on its way
	}
}

// child is one run of the helper process.
type child struct {
	cmd *exec.Cmd
}

func startChild(t *testing.T, env []string, logOut *os.File) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logOut, logOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &child{cmd: cmd}
}

// kill SIGKILLs the child and reaps it.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := c.cmd.Wait(); !errors.As(err, &exit) {
		t.Fatalf("killed child: %v, want an exit by signal", err)
	}
}

// terminate stops the child cleanly and checks it exited 0.
func (c *child) terminate(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child after SIGTERM: %v", err)
	}
}

// streamLines makes a deterministic stream of genuine-format lines from
// start on, one second apart: Ban lines of 150 addresses over four jails
// (one excluded) with Unban and Found lines between them.
func streamLines(start time.Time, n int) []string {
	rng := rand.New(rand.NewPCG(3, 7))
	start = start.UTC()
	jails := []string{"sshd", "postfix-sasl", "nginx-http-auth", "recidive"}
	lines := make([]string, 0, n)
	for i := range n {
		at := start.Add(time.Duration(i) * time.Second).Format("2006-01-02 15:04:05,000")
		k := rng.IntN(150)
		addr := fmt.Sprintf("198.51.100.%d", k)
		if k%3 == 0 {
			addr = fmt.Sprintf("2001:db8:%x::%x", k, k+1)
		}
		jail := jails[rng.IntN(len(jails))]
		switch rng.IntN(6) {
		case 0:
			lines = append(lines, fmt.Sprintf("%s fail2ban.actions        [9484]: NOTICE  [%s] Unban %s", at, jail, addr))
		case 1:
			lines = append(lines, fmt.Sprintf("%s fail2ban.filter         [9484]: INFO    [%s] Found %s - %s", at, jail, addr, at[:19]))
		default:
			lines = append(lines, fmt.Sprintf("%s fail2ban.actions        [9484]: NOTICE  [%s] Ban %s", at, jail, addr))
		}
	}
	return lines
}

// appendPieces appends lines to path in uneven writes, some ending in the
// middle of a line, with short pauses so a reader sees partial lines.
func appendPieces(t *testing.T, path string, lines []string, rng *rand.Rand) {
	t.Helper()
	if err := writePieces(path, lines, rng); err != nil {
		t.Fatal(err)
	}
}

// writePieces is appendPieces for a goroutine of its own.
func writePieces(path string, lines []string, rng *rand.Rand) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	data := strings.Join(lines, "\n") + "\n"
	for len(data) > 0 {
		n := min(len(data), 1+rng.IntN(4000))
		if _, err := f.WriteString(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
	}
	return nil
}

// waitCaughtUp waits until the child's saved checkpoint is at the end of
// the current log.
func waitCaughtUp(t *testing.T, logPath, stateDir string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		fi, err := os.Stat(logPath)
		if err != nil {
			t.Fatal(err)
		}
		dev, ino, err := devIno(fi)
		if err != nil {
			t.Fatal(err)
		}
		st, found, err := loadState(stateDir, NewTracker(killThreshold, killWindow))
		if err == nil && found && len(st.Checkpoints) == 1 {
			cp := st.Checkpoints[0]
			if cp.File.Dev == dev && cp.File.Ino == ino && cp.Offset == fi.Size() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("child did not catch up: state %+v (err %v), log size %d", st, err, fi.Size())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// offenceKey identifies one offender report.
func offenceKey(o Offender) string {
	return fmt.Sprintf("%s bans=%d first=%s last=%s jails=%v", o.Addr, o.Bans,
		o.First.UTC().Format(time.RFC3339Nano), o.Last.UTC().Format(time.RFC3339Nano), o.Jails)
}

// killFiles makes the files of a kill test: the log, the state directory,
// the offenders the helper reports and its output (closed at cleanup), and
// the helper's environment, whose clock stands at start.
func killFiles(t *testing.T) (logPath, stateDir, outPath string, childLog *os.File, start time.Time, env []string) {
	t.Helper()
	dir := t.TempDir()
	logPath = filepath.Join(dir, "fail2ban.log")
	stateDir = filepath.Join(dir, "state")
	outPath = filepath.Join(dir, "offenders.jsonl")
	childLog, err := os.Create(filepath.Join(dir, "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { childLog.Close() })
	start = time.Now().Add(-24 * time.Hour)
	env = []string{killHelperEnv + "=1", "KILL_LOG=" + logPath, "KILL_STATE=" + stateDir, "KILL_OUT=" + outPath,
		"KILL_NOW=" + start.Format(time.RFC3339Nano)}
	return logPath, stateDir, outPath, childLog, start, env
}

func TestSIGKILLMidStreamLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary and waits for it; skipped with -short")
	}
	logPath, stateDir, outPath, childLog, start, env := killFiles(t)
	rng := rand.New(rand.NewPCG(1, 2))
	lines := streamLines(start, 30000)
	part := len(lines) / 5

	c := startChild(t, env, childLog)
	appendPieces(t, logPath, lines[:part], rng)
	time.Sleep(1200 * time.Millisecond) // at least one save
	written := make(chan error, 1)
	go func() { written <- writePieces(logPath, lines[part:2*part], rand.New(rand.NewPCG(5, 6))) }()
	time.Sleep(50 * time.Millisecond)
	c.kill(t) // 1: while lines arrive
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)

	c = startChild(t, env, childLog)
	appendPieces(t, logPath, lines[2*part:3*part], rng)
	c.kill(t) // 2: right after a burst, before it could save it all
	// Rotated while nobody watches: the rest of the old file is still to read.
	appendPieces(t, logPath, lines[3*part:3*part+part/2], rng)
	mustRename(t, logPath, logPath+".1")

	c = startChild(t, env, childLog)
	appendPieces(t, logPath, lines[3*part+part/2:], rng)
	waitCaughtUp(t, logPath, stateDir)
	c.terminate(t)

	want, duplicates, tracked := assertSameAsOffline(t, []string{logPath + ".1", logPath}, stateDir, outPath)
	t.Logf("%d lines, 2 SIGKILLs, 1 rotation: %d offenders reported (%d re-reported after a kill, at-least-once), %d tracked; all equal to the offline count",
		len(lines), want, duplicates, tracked)
}

// assertSameAsOffline checks that the helper's saved state in stateDir and
// the offenders it reported in outPath are those of an offline ScanFiles of
// logPaths: none lost, none extra (reported again is allowed: at least
// once). It returns the offenders, the repeats and the tracked addresses.
func assertSameAsOffline(t *testing.T, logPaths []string, stateDir, outPath string) (offenders, repeats, tracked int) {
	t.Helper()
	// What the child holds.
	tracker := NewTracker(killThreshold, killWindow)
	st, found, err := loadState(stateDir, tracker)
	if err != nil || !found {
		t.Fatalf("loading the child's state: found=%v err=%v", found, err)
	}
	if len(st.Pending) != 0 {
		t.Errorf("%d offenders still queued after a clean stop", len(st.Pending))
	}
	reported := map[string]int{}
	for _, l := range readLines(t, outPath) {
		var o Offender
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("offender record %q: %v", l, err)
		}
		reported[offenceKey(o)]++
	}

	// The offline count over the same lines.
	wantTracker := NewTracker(killThreshold, killWindow)
	p := NewPipeline(NewParser(ParserConfig{Location: time.UTC}), NewFilter(nil, []string{"recidive"}, nil), wantTracker)
	want := map[string]bool{}
	if err := ScanFiles(logPaths, p, func(o Offender) { want[offenceKey(o)] = true }); err != nil {
		t.Fatal(err)
	}
	if len(want) < 100 {
		t.Fatalf("offline count found only %d offenders; the stream proves little", len(want))
	}

	duplicates := 0
	for k, n := range reported {
		if !want[k] {
			t.Errorf("reported but not an offender offline: %s", k)
		}
		duplicates += n - 1
	}
	for k := range want {
		if reported[k] == 0 {
			t.Errorf("offender lost: %s", k)
		}
	}
	gotCands, wantCands := tracker.Candidates(), wantTracker.Candidates()
	if len(gotCands) != len(wantCands) {
		t.Errorf("child tracks %d addresses, offline %d", len(gotCands), len(wantCands))
	}
	wantByKey := map[string]bool{}
	for _, o := range wantCands {
		wantByKey[offenceKey(o)] = true
	}
	for _, o := range gotCands {
		if !wantByKey[offenceKey(o)] {
			t.Errorf("child tracks %s, which the offline count does not", offenceKey(o))
		}
	}
	return len(want), duplicates, len(gotCands)
}

func TestSIGKILLMidJournalAppendLosesNothingAndCountsNothingTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary and waits for it; skipped with -short")
	}
	logPath, stateDir, outPath, childLog, start, env := killFiles(t)
	rng := rand.New(rand.NewPCG(11, 12))
	lines := streamLines(start, 20000)
	const chunk = 1000

	// The first save of a run writes the whole state; the second append to
	// the journal after it is torn in half by a SIGKILL.
	c := startChild(t, append(slices.Clone(env), killMidAppendEnv+"=2"), childLog)
	died := make(chan error, 1)
	go func() { died <- c.cmd.Wait() }()
	sent := 0
	for dead := false; !dead; {
		if sent+chunk > len(lines)/2 {
			t.Fatalf("the child did not crash in a journal append after %d lines", sent)
		}
		appendPieces(t, logPath, lines[sent:sent+chunk], rng)
		sent += chunk
		select {
		case err := <-died:
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, want a SIGKILL in a journal append", err)
			}
			dead = true
		case <-time.After(1200 * time.Millisecond): // a save or more
		}
	}
	_, _, jr, err := loadStateAndJournal(stateDir, NewTracker(killThreshold, killWindow))
	if err != nil || jr.dropped == 0 || jr.records == 0 {
		t.Fatalf("after the crash the journal holds %d records and a torn tail of %d bytes (err %v); want both", jr.records, jr.dropped, err)
	}

	c = startChild(t, env, childLog)
	appendPieces(t, logPath, lines[sent:], rng)
	waitCaughtUp(t, logPath, stateDir)
	c.terminate(t)
	want, duplicates, tracked := assertSameAsOffline(t, []string{logPath}, stateDir, outPath)
	t.Logf("%d lines, a SIGKILL in a journal append (%d bytes torn, %d records kept): %d offenders reported (%d again after the kill), %d tracked; all equal to the offline count",
		len(lines), jr.dropped, jr.records, want, duplicates, tracked)
}
