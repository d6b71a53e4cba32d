package nofollow_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/internal/nofollow"
)

func TestOpenFileRefusesALinkAndOpensAFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret-name")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "lock")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "seen")
	if err := os.Symlink(filepath.Join(dir, "missing"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{link, dangling} {
		f, err := nofollow.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if f != nil {
			f.Close()
		}
		if !errors.Is(err, nofollow.ErrSymlink) || !strings.Contains(err.Error(), "rm "+name) || strings.Contains(err.Error(), "secret-name") {
			t.Errorf("OpenFile(%s) = %v, want ErrSymlink with the fix and without the target", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dangling link's target was created: %v", err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "x" {
		t.Errorf("the target was truncated: %q", b)
	}
	plain := filepath.Join(dir, "plain")
	f, err := nofollow.OpenFile(plain, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatalf("OpenFile of a new regular file: %v", err)
	}
	f.Close()
	if _, err := nofollow.Open(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing file = %v, want ErrNotExist", err)
	}
}
