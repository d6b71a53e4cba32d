package blocklist_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/recidivist/recidivist/blocklist"
)

// FuzzLoad feeds arbitrary files to the reader: it must never panic, every
// line error must point at a line of the file, and every loaded entry must
// re-serialise to a line that loads as the same entry.
func FuzzLoad(f *testing.F) {
	seeds := []string{
		"203.0.113.7 # recidivist 2026-11-24T13:55:51Z jails=sshd,postfix bans=3\n",
		"203.0.113.7 # recidivist 2026-11-24T13:55:51Z jails=sshd bans=3 expires=2026-12-01T13:55:51Z\n",
		"198.51.100.0/24 # recidivist 2026-11-24T13:55:51Z manual abuse ticket 42\n",
		"192.0.2.10 # fail2ban/2013-03-02 14:05:11: auto-add for repeat offender\n",
		"203.0.113.77 spammer\n\n# comment\n\t2001:db8::1\t# tab\n",
		"garbage\n999.1.1.1\n10.0.0.1/33\n::ffff:10.0.0.1\n10.0.0.1/32\n",
		"# windows\r\n192.0.2.1\r\n",
		"\uFEFF192.0.2.1#x\n",
		"fe80::1%eth0\n2001:db8::/129\n",
		"1.2.3.4 # recidivist bans=-1 jails= expires=never manual\n",
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "ip.blocklist.ssh")); err == nil {
		seeds = append(seeds, string(b))
	} else {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "blocklist")
	again := filepath.Join(dir, "again")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		es, bad, err := blocklist.Open(path).Load()
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, le := range bad {
			if le.Line < 1 || le.Line > lines {
				t.Errorf("line error at line %d of a %d-line file", le.Line, lines)
			}
		}
		seen := make(map[any]bool)
		for _, e := range es {
			if seen[e.Prefix] {
				t.Errorf("%s loaded twice", e.Prefix)
			}
			seen[e.Prefix] = true
			if e.Prefix != e.Prefix.Masked() {
				t.Errorf("%s is not canonical", e.Prefix)
			}
			line := e.String()
			if bytes.ContainsAny([]byte(line), "\r\n") {
				t.Fatalf("String() = %q spans lines", line)
			}
			if err := os.WriteFile(again, []byte(line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			back, bad2, err := blocklist.Open(again).Load()
			if err != nil || len(bad2) != 0 || len(back) != 1 {
				t.Fatalf("re-reading %q: %v entries, %v bad, %v", line, len(back), bad2, err)
			}
			b := back[0]
			if b.Prefix != e.Prefix || !b.Added.Equal(e.Added) || !b.Expires.Equal(e.Expires) ||
				!reflect.DeepEqual(b.Jails, e.Jails) || b.Bans != e.Bans || b.Manual != e.Manual || b.Comment != e.Comment {
				t.Errorf("entry %#v re-serialised as %q loads as %#v", e, line, b)
			}
		}
	})
}
