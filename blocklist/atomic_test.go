package blocklist_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/recidivist/recidivist/blocklist"
)

func TestRewriteReplacesTheFileByRenameAndLeavesNoTempFiles(t *testing.T) {
	f := mirrorIn(t, "# header\n192.0.2.1\n")
	before := inode(t, f.Path())
	if _, err := f.Add(blocklist.Entry{Prefix: pfx("192.0.2.2/32")}); err != nil {
		t.Fatal(err)
	}
	afterAdd := inode(t, f.Path())
	if afterAdd == before {
		t.Error("Add wrote the file in place (same inode); it must write a new file and rename it")
	}
	if _, err := f.Remove(pfx("192.0.2.1/32")); err != nil {
		t.Fatal(err)
	}
	if inode(t, f.Path()) == afterAdd {
		t.Error("Remove wrote the file in place (same inode)")
	}
	assertOnlyMirrorFiles(t, filepath.Dir(f.Path()))
}

func TestReadersNeverSeeAHalfWrittenFile(t *testing.T) {
	f := mirrorIn(t, "# header\n")
	const n = 60
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var readerErr error
	reads := 0
	go func() {
		defer wg.Done()
		last := 0
		for {
			select {
			case <-done:
				return
			default:
			}
			b, err := os.ReadFile(f.Path())
			if err != nil {
				readerErr = fmt.Errorf("reading while writing: %w", err)
				return
			}
			reads++
			if !bytes.HasPrefix(b, []byte("# header\n")) || !bytes.HasSuffix(b, []byte("\n")) {
				readerErr = fmt.Errorf("saw a partial file: %q", b)
				return
			}
			lines := bytes.Count(b, []byte("\n")) - 1
			if lines < last {
				readerErr = fmt.Errorf("saw %d entries after %d", lines, last)
				return
			}
			last = lines
		}
	}()
	for i := range n {
		if _, err := f.Add(blocklist.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i / 256), byte(i)}), 32)}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if readerErr != nil {
		t.Fatal(readerErr)
	}
	if got := len(mustLoad(t, f)); got != n {
		t.Errorf("loaded %d entries, want %d", got, n)
	}
	t.Logf("%d reads during %d rewrites", reads, n)
}

// TestAFailedWriteLeavesTheOldContent makes the write of the new file fail
// half-way for real: RLIMIT_FSIZE lets the temp file grow only to a few
// bytes, so the write returns EFBIG in the middle of the content. The limit
// holds for the whole process, so the test runs in a child process of its
// own: in this one it would also fail the writes of go test's own log.
func TestAFailedWriteLeavesTheOldContent(t *testing.T) {
	if os.Getenv("RECIDIVIST_FSIZE_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAFailedWriteLeavesTheOldContent$", "-test.v")
		cmd.Env = append(os.Environ(), "RECIDIVIST_FSIZE_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestAFailedWriteLeavesTheOldContent") {
			t.Fatalf("the test in its own process: %v\n%s", err, out)
		}
		return
	}
	const old = "# header kept\n192.0.2.1 # old entry\n"
	f := mirrorIn(t, old)
	before := inode(t, f.Path())
	var entries []blocklist.Entry
	for i := range 100 {
		entries = append(entries, blocklist.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 32), Manual: true, Comment: "x"})
	}

	// The kernel sends SIGXFSZ when a write crosses the limit; ignored, the
	// write fails with EFBIG instead of killing the test.
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	small := lim
	small.Cur = uint64(len(old)) + 40
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &small); err != nil {
		t.Fatal(err)
	}
	_, err := f.Add(entries...)
	if rerr := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); rerr != nil {
		t.Fatal(rerr)
	}

	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("Add under a tiny RLIMIT_FSIZE = %v, want EFBIG", err)
	}
	if content := readFile(t, f); content != old {
		t.Errorf("file after a failed write = %q, want the old content", content)
	}
	if inode(t, f.Path()) != before {
		t.Error("the file was replaced although the write failed")
	}
	assertOnlyMirrorFiles(t, filepath.Dir(f.Path()))
	if added, err := f.Add(entries...); err != nil || len(added) != len(entries) {
		t.Errorf("Add after the failure = %d entries, %v; want all %d", len(added), err, len(entries))
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// assertOnlyMirrorFiles checks that dir holds the mirror and its lock, and
// no temp file left behind.
func assertOnlyMirrorFiles(t *testing.T, dir string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	sort.Strings(names)
	if want := []string{"blocklist", "blocklist.lock"}; !reflect.DeepEqual(names, want) {
		t.Errorf("directory holds %v, want %v", names, want)
	}
}
