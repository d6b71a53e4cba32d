package blocklist_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/internal/testenv"
)

// mirrorIn returns a mirror at DIR/blocklist in a fresh temp dir, holding
// content when content is not empty.
func mirrorIn(t *testing.T, content string) *blocklist.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "blocklist")
	if content != "" {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return blocklist.Open(path)
}

// readFile returns the mirror's bytes as a string.
func readFile(t *testing.T, f *blocklist.File) string {
	t.Helper()
	b, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mustLoad loads f and fails on any error or bad line.
func mustLoad(t *testing.T, f *blocklist.File) []blocklist.Entry {
	t.Helper()
	es, bad, err := f.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, le := range bad {
		t.Errorf("unexpected bad line: %v", le)
	}
	return es
}

// prefixes lists the prefixes of es as strings, in order.
func prefixes(es []blocklist.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Prefix.String()
	}
	return out
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// requireRoot skips a test that needs root, unless CI=true, where it fails:
// in CI a skipped test must not pass for a tested one.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "this test needs root to test ownership checks; run it as root")
	}
}
