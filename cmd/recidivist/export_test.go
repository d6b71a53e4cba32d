package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/internal/host"
	"github.com/recidivist/recidivist/statedir"
)

func TestMirrorSource_follows_the_file_its_mode_and_a_reloaded_ignore_list(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{StateDir: filepath.Join(dir, "state")}
	mirror := blocklist.Open(statedir.Mirror(cfg.StateDir))
	if _, err := mirror.Add(blocklist.Entry{Prefix: netip.MustParsePrefix("192.0.2.7/32"), Added: time.Now(), Manual: true}); err != nil {
		t.Fatal(err)
	}
	src := &mirrorSource{mirror: host.Mirror(cfg)}
	count := func(want int) {
		t.Helper()
		es, err := src.load()
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != want {
			t.Fatalf("%d entries, want %d", len(es), want)
		}
	}
	count(1)
	if _, err := mirror.Add(blocklist.Entry{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Added: time.Now(), Manual: true}); err != nil {
		t.Fatal(err)
	}
	count(2) // a new line is seen, though the first read is cached

	if err := os.Chmod(mirror.Path(), 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := src.load(); err == nil {
		t.Fatal("a mirror others can write was served from the cache")
	}
	if err := os.Chmod(mirror.Path(), 0o600); err != nil {
		t.Fatal(err)
	}
	count(2)

	reloaded := *cfg
	reloaded.Ignore = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	src.reload(&reloaded)
	count(1) // the reloaded ignore list refuses 192.0.2.7, as the daemon does
}
