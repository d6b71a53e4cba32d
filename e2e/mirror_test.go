package e2e

import (
	"bufio"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mirrorEntries reads the blocklist mirror at path into its entries and
// their comments. A missing file is an empty blocklist.
func mirrorEntries(t *testing.T, path string) map[netip.Prefix]string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[netip.Prefix]string{}
	}
	if err != nil {
		t.Fatalf("opening the mirror: %v", err)
	}
	defer f.Close() //nolint:errcheck // read only
	entries := map[netip.Prefix]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, comment, _ := strings.Cut(line, "#")
		entry = strings.TrimSpace(entry)
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			a, aerr := netip.ParseAddr(entry)
			if aerr != nil {
				t.Fatalf("%s:%d: %q is no address or prefix", path, n, entry)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if _, dup := entries[p]; dup {
			t.Errorf("%s:%d: %s is in the mirror twice", path, n, p)
		}
		entries[p] = strings.TrimSpace(comment)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the mirror: %v", err)
	}
	return entries
}

// commentField returns the value of key=value in a mirror comment.
func commentField(comment, key string) string {
	for _, f := range strings.Fields(comment) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// checkMirrorEntry waits up to 2s for the mirror at path to hold a (the
// daemon puts an offender in the kernel first, then in the mirror) and
// fails t unless its comment says exactly bans bans from jails
// (comma-separated and sorted, as the mirror writes them).
func checkMirrorEntry(t *testing.T, path string, a netip.Addr, bans int, jails string) {
	t.Helper()
	p := netip.PrefixFrom(a, a.BitLen())
	deadline := time.Now().Add(2 * time.Second)
	m := mirrorEntries(t, path)
	for ; m[p] == "" && time.Now().Before(deadline); m = mirrorEntries(t, path) {
		time.Sleep(5 * time.Millisecond)
	}
	comment, ok := m[p]
	switch {
	case !ok:
		t.Errorf("mirror lacks %s 2s on, want bans=%d jails=%s; mirror: %v", a, bans, jails, m)
	case commentField(comment, "bans") != strconv.Itoa(bans) || commentField(comment, "jails") != jails:
		t.Errorf("mirror entry of %s: %q, want bans=%d jails=%s", a, comment, bans, jails)
	}
}
