package f2bconf

import (
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRead_local_files_override_conf_in_fail2bans_order(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "fail2ban.conf"), "[Definition]\nloglevel = INFO\nlogtarget = /var/log/fail2ban.log\n[Thread]\nloglevel = DEBUG\n")
	write(t, filepath.Join(dir, "fail2ban.d", "10-x.conf"), "[Definition]\nloglevel = DEBUG\n")
	write(t, filepath.Join(dir, "fail2ban.local"), "# comment\n[Definition]\nlogtarget = SYSLOG\n")
	write(t, filepath.Join(dir, "fail2ban.d", "20-quiet.local"), "[Definition]\nloglevel: WARNING\n")
	s, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.LogLevel != "WARNING" || s.LogLevelFrom != filepath.Join(dir, "fail2ban.d", "20-quiet.local") {
		t.Errorf("loglevel = %q from %q, want WARNING from fail2ban.d/20-quiet.local", s.LogLevel, s.LogLevelFrom)
	}
	if s.LogTarget != "SYSLOG" || s.LogTargetFrom != filepath.Join(dir, "fail2ban.local") {
		t.Errorf("logtarget = %q from %q, want SYSLOG from fail2ban.local", s.LogTarget, s.LogTargetFrom)
	}
}

func TestRead_defaults_apply_when_nothing_is_set(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "fail2ban.conf"), "[Definition]\n")
	s, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.LogLevel != "INFO" || s.LogTarget != "/var/log/fail2ban.log" || s.LogLevelFrom != "" {
		t.Errorf("got %+v, want fail2ban's defaults", s)
	}
	if _, err := Read(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("missing dir: err = %v, want not-exist", err)
	}
}

func TestShowsBans_only_at_notice_or_more_verbose(t *testing.T) {
	for level, want := range map[string]bool{
		"INFO": true, "NOTICE": true, "DEBUG": true, "notice": true, "25": true,
		"WARNING": false, "ERROR": false, "CRITICAL": false, "30": false,
	} {
		got, err := ShowsBans(level)
		if err != nil || got != want {
			t.Errorf("ShowsBans(%q) = %v, %v; want %v", level, got, err, want)
		}
	}
	if _, err := ShowsBans("LOUD"); err == nil {
		t.Error("ShowsBans(LOUD) = nil error, want unknown level")
	}
}
