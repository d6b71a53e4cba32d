package blocklist_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/recidivist/recidivist/blocklist"
)

// perWriter is how many entries each concurrent writer adds.
const perWriter = 10

// writerEntries returns the entries writer w adds: its own addresses plus
// one address every writer adds, which must end up in the file once.
func writerEntries(w int) []blocklist.Entry {
	es := []blocklist.Entry{{Prefix: pfx("192.0.2.1/32"), Comment: "shared"}}
	for i := range perWriter {
		es = append(es, blocklist.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(w), 0, byte(i)}), 32)})
	}
	return es
}

// addOneByOne adds es with one Add call each, so writers interleave.
func addOneByOne(f *blocklist.File, es []blocklist.Entry) error {
	for _, e := range es {
		if _, err := f.Add(e); err != nil {
			return err
		}
	}
	return nil
}

// checkAllThere loads f and checks that every writer's entries are there,
// the shared one once, and the human's line too.
func checkAllThere(t *testing.T, f *blocklist.File, writers int) {
	t.Helper()
	es, bad, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, le := range bad {
		t.Errorf("bad or duplicate line: %v", le)
	}
	have := make(map[netip.Prefix]int)
	for _, e := range es {
		have[e.Prefix]++
	}
	for w := range writers {
		for _, e := range writerEntries(w) {
			if have[e.Prefix] != 1 {
				t.Errorf("%s is in the file %d times, want once", e.Prefix, have[e.Prefix])
			}
		}
	}
	if want := writers*perWriter + 2; len(es) != want {
		t.Errorf("loaded %d entries, want %d", len(es), want)
	}
}

func TestConcurrentAddFromGoroutinesLosesNothing(t *testing.T) {
	f := mirrorIn(t, "203.0.113.5 # the human's line\n")
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each writer has its own File, as the daemon and a CLI command would.
			errs[w] = addOneByOne(blocklist.Open(f.Path()), writerEntries(w))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	checkAllThere(t, f, writers)
}

func TestConcurrentAddFromProcessesLosesNothing(t *testing.T) {
	f := mirrorIn(t, "203.0.113.5 # the human's line\n")
	const writers = 4
	cmds := make([]*exec.Cmd, writers)
	for w := range writers {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriterProcess$")
		cmd.Env = append(os.Environ(), "BLOCKLIST_HELPER_PATH="+f.Path(), "BLOCKLIST_HELPER_WRITER="+strconv.Itoa(w))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[w] = cmd
	}
	for w, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer process %d: %v", w, err)
		}
	}
	checkAllThere(t, f, writers)
}

// TestHelperWriterProcess is not a test: it is the body of a writer
// process started by TestConcurrentAddFromProcessesLosesNothing.
func TestHelperWriterProcess(t *testing.T) {
	path := os.Getenv("BLOCKLIST_HELPER_PATH")
	if path == "" {
		t.Skip("helper process for TestConcurrentAddFromProcessesLosesNothing")
	}
	w, err := strconv.Atoi(os.Getenv("BLOCKLIST_HELPER_WRITER"))
	if err != nil {
		t.Fatal(err)
	}
	if err := addOneByOne(blocklist.Open(path), writerEntries(w)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func TestAHumanEditBetweenWritesIsKept(t *testing.T) {
	f := mirrorIn(t, "")
	daemon, cli := blocklist.Open(f.Path()), blocklist.Open(f.Path())
	if _, err := daemon.Add(blocklist.Entry{Prefix: pfx("192.0.2.1/32")}); err != nil {
		t.Fatal(err)
	}
	// A human appends a line with an editor that writes in place.
	fh, err := os.OpenFile(f.Path(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString("# added by hand\n198.51.100.9 # blocked by the admin\n"); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Add(blocklist.Entry{Prefix: pfx("192.0.2.2/32")}); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.Remove(pfx("192.0.2.1/32")); err != nil {
		t.Fatal(err)
	}
	want := "# added by hand\n198.51.100.9 # blocked by the admin\n192.0.2.2\n"
	if got := readFile(t, f); got != want {
		t.Errorf("file =\n%s\nwant\n%s", got, want)
	}
}
