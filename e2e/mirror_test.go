package e2e

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
	"testing"
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
