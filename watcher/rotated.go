package watcher

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// RotatedFile is a rotated-away copy of a log: fail2ban.log.1,
// fail2ban.log.2.gz, or logrotate's dateext form fail2ban.log-20261124(.gz).
type RotatedFile struct {
	Path    string
	ModTime time.Time
}

// Rotated lists the rotated siblings of the log at path, oldest first. The
// order comes from the names (a larger number is older, an earlier date is
// older), which logrotate keeps consistent; the modification time is there
// for the follower to tell which files were filled after the one it follows
// (a first start reads every sibling, however old). A missing directory
// is an error; no siblings is an empty list.
func Rotated(path string) ([]RotatedFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing rotated logs of %s: %w", path, err)
	}
	type ranked struct {
		RotatedFile
		age int64 // larger is older
	}
	var found []ranked
	for _, e := range entries {
		age, ok := rotationAge(base, e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // rotated away again while we listed: nothing to read
		}
		if err != nil {
			return nil, fmt.Errorf("reading rotated log %s: %w", e.Name(), err)
		}
		found = append(found, ranked{RotatedFile{filepath.Join(dir, e.Name()), info.ModTime()}, age})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].age > found[j].age })
	out := make([]RotatedFile, len(found))
	for i, f := range found {
		out[i] = f.RotatedFile
	}
	return out, nil
}

// rotationAge tells whether name is a rotated copy of base and how old it
// is: N for base.N(.gz), and for base-YYYYMMDD(.gz) a value that decreases
// with the date, so that sorting by age puts the oldest first either way.
func rotationAge(base, name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, base)
	if !ok || len(rest) < 2 {
		return 0, false
	}
	rest = strings.TrimSuffix(rest, ".gz")
	switch rest[0] {
	case '.':
		n, err := strconv.ParseUint(rest[1:], 10, 31)
		if err != nil || n == 0 {
			return 0, false
		}
		return int64(n), true
	case '-':
		d, err := time.Parse("20060102", rest[1:])
		if err != nil {
			return 0, false
		}
		return -d.Unix(), true
	}
	return 0, false
}

// OldestFirst orders log files for reading as the daemon reads them: the
// rotated copies of one log (log.2.gz, log.1, log-20261124.gz) oldest first,
// then the log itself, whatever order they were given in (a shell expands
// fail2ban.log* as log, log.1, log.10.gz, log.2.gz: newest first). Reading
// newest first would put the bans out of order, deeper than the Tracker can
// follow. Files of different logs stay in the order their first file was
// given.
func OldestFirst(paths []string) []string {
	type keyed struct {
		path  string
		group int
		age   int64 // larger is older; the log itself is the newest
	}
	groups := map[string]int{}
	ks := make([]keyed, len(paths))
	for i, p := range paths {
		dir, name := filepath.Split(p)
		base, age := name, int64(math.MinInt64)
		if b, ok := rotatedBase(name); ok {
			if a, ok := rotationAge(b, name); ok {
				base, age = b, a
			}
		}
		g, ok := groups[dir+base]
		if !ok {
			g = len(groups)
			groups[dir+base] = g
		}
		ks[i] = keyed{p, g, age}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		if c := cmp.Compare(a.group, b.group); c != 0 {
			return c
		}
		return cmp.Compare(b.age, a.age)
	})
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.path
	}
	return out
}

// rotatedBase returns the name of the log that name is a rotated copy of,
// by its form (see rotationAge), if it has one.
func rotatedBase(name string) (string, bool) {
	rest := strings.TrimSuffix(name, ".gz")
	if i := strings.LastIndexAny(rest, ".-"); i > 0 {
		return rest[:i], true
	}
	return "", false
}

// gzipMagic starts every gzip stream (RFC 1952).
var gzipMagic = []byte{0x1f, 0x8b}

// openLog opens a log for reading from the start, decompressing it when its
// first bytes are gzip's magic number, whatever its name says. The caller
// closes the result.
func openLog(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening log %s: %w", path, err)
	}
	r, err := decompressing(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading log %s: %w", path, err)
	}
	return r, nil
}

// decompressing wraps f in a gzip reader when its content is gzip; closing
// the result closes f.
func decompressing(f *os.File) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(f, 64<<10)
	magic, err := br.Peek(len(gzipMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(magic) < len(gzipMagic) || magic[0] != gzipMagic[0] || magic[1] != gzipMagic[1] {
		return readCloser{br, f}, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("starting gzip: %w", err)
	}
	return readCloser{zr, f}, nil
}

// isGzip tells whether the file at path holds gzip data, by its magic bytes.
func isGzip(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("opening log %s: %w", path, err)
	}
	defer f.Close()
	gz, err := startsWithGzip(f)
	if err != nil {
		return false, fmt.Errorf("reading log %s: %w", path, err)
	}
	return gz, nil
}

// startsWithGzip tells whether r begins with gzip's magic bytes; an empty
// or one-byte r does not.
func startsWithGzip(r io.ReaderAt) (bool, error) {
	var magic [2]byte
	n, err := r.ReadAt(magic[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return n == len(magic) && bytes.Equal(magic[:], gzipMagic), nil
}

// readCloser reads from one reader and closes another (the file under a
// decompressor).
type readCloser struct {
	io.Reader
	io.Closer
}
