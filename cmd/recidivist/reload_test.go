package main

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/recidivist/recidivist/config"
)

func TestFreshConfig_reads_the_changed_file_again_and_keeps_command_line_flags_first(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "recidivist.toml")
	writeConfig := func(text string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"recidivist", "run", "--config", file, "--state-dir", dir, "--window", "2d"}

	writeConfig("threshold = 3\nwindow = \"1w\"\n")
	cfg, err := freshConfig(context.Background(), args)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Threshold != 3 || cfg.Window != 48*time.Hour {
		t.Fatalf("first read: threshold %d, window %v; want 3 and the flag's 2d", cfg.Threshold, cfg.Window)
	}

	writeConfig("threshold = 5\nwindow = \"1w\"\nignore = [\"192.0.2.0/24\"]\n")
	cfg, err = freshConfig(context.Background(), args)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Threshold != 5 || !slices.Contains(cfg.Ignore, netip.MustParsePrefix("192.0.2.0/24")) {
		t.Errorf("after the edit: threshold %d, ignore %v; want 5 and 192.0.2.0/24", cfg.Threshold, cfg.Ignore)
	}
	if cfg.Window != 48*time.Hour {
		t.Errorf("after the edit the file's window won over the command line: %v", cfg.Window)
	}

	writeConfig("threshold = \"five\"\n")
	_, err = freshConfig(context.Background(), args)
	var cfgErr *config.Error
	if !errors.As(err, &cfgErr) || cfgErr.Key != "threshold" {
		t.Errorf("a broken file: %v, want a config error naming threshold", err)
	}
}
