package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/config"
)

func TestConfigFileWritableByOthersIsRefused(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode
		refused bool
	}{
		{"a_file_only_its_owner_reads_is_read", 0o600, false},
		{"a_file_others_may_read_is_read", 0o644, false},
		{"a_group_readable_file_is_read", 0o640, false},
		{"a_group_writable_file_is_refused", 0o660, true},
		{"a_world_writable_file_is_refused", 0o602, true},
		{"a_file_anyone_may_write_is_refused", 0o666, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, "threshold = 4\n")
			if err := os.Chmod(path, tt.mode); err != nil { // the umask does not apply to chmod
				t.Fatal(err)
			}
			cfg, err := load(t, nil, "--config", path)
			if !tt.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if cfg.Threshold != 4 || cfg.File != path {
					t.Errorf("the file was not read: threshold %d, file %q", cfg.Threshold, cfg.File)
				}
				return
			}
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key != "config" || ce.Value != path {
				t.Fatalf("error %v is not a *config.Error naming config = %s", err, path)
			}
			if fix := "chmod go-w " + path; !strings.Contains(err.Error(), fix) {
				t.Errorf("message %q does not give the fix %q", err, fix)
			}
		})
	}
}

func TestConfigFileMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.toml")
	t.Run("a_missing_file_named_by_the_config_flag_is_an_error", func(t *testing.T) {
		_, err := load(t, nil, "--config", missing)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("got %v, want an error naming %s that is fs.ErrNotExist", err, missing)
		}
	})
	t.Run("a_missing_file_named_by_the_environment_is_an_error", func(t *testing.T) {
		_, err := load(t, map[string]string{"RECIDIVIST_CONFIG": missing})
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("got %v, want an error naming %s that is fs.ErrNotExist", err, missing)
		}
	})
	t.Run("a_missing_file_at_the_default_path_is_no_file", func(t *testing.T) {
		values, err := config.ReadFile(missing, false)
		if err != nil || values != nil {
			t.Errorf("ReadFile(missing, not explicit) = %v, %v; want nil, nil", values, err)
		}
	})
}

func TestConfigFileThatIsNotTOMLNamesTheFileAndLine(t *testing.T) {
	path := writeConfig(t, "threshold = 4\nwindow = \"1w\nlog = \"/x\"\n")
	_, err := load(t, nil, "--config", path)
	if err == nil {
		t.Fatal("a broken file loaded without error")
	}
	for _, part := range []string{path, "line 2"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("message %q lacks %q", err, part)
		}
	}
}

func TestConfigFileReportsEveryBadKeyAtOnce(t *testing.T) {
	path := writeConfig(t, "colour = \"red\"\nthreshold = \"three\"\nwindow = \"soon\"\n")
	_, err := load(t, nil, "--config", path)
	named := map[string]bool{}
	for _, e := range unwrapAll(err) {
		var ce *config.Error
		if errors.As(e, &ce) {
			named[ce.Key] = true
			if ce.Source != path {
				t.Errorf("error %v gives source %q, want %q", e, ce.Source, path)
			}
		}
	}
	for _, key := range []string{"colour", "threshold", "window"} {
		if !named[key] {
			t.Errorf("the error does not name %s: %v", key, err)
		}
	}
}

func TestConfigFileFromTheEnvironmentDoesNotStickToTheNextRun(t *testing.T) {
	if _, err := os.Stat(config.DefaultPath); err == nil {
		t.Skipf("%s exists on this machine; its settings would be read", config.DefaultPath)
	}
	path := writeConfig(t, "threshold = 4\n")
	if cfg := mustLoad(t, map[string]string{"RECIDIVIST_CONFIG": path}); cfg.Threshold != 4 || cfg.File != path {
		t.Fatalf("the file named by RECIDIVIST_CONFIG was not read: threshold %d, file %q", cfg.Threshold, cfg.File)
	}
	// A second app in the same process, as the command tests build them.
	if cfg := mustLoad(t, nil); cfg.Threshold != 3 || cfg.File != "" {
		t.Errorf("the next run without RECIDIVIST_CONFIG still read %q (threshold %d)", cfg.File, cfg.Threshold)
	}
}
