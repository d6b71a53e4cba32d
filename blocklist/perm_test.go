package blocklist_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/blocklist"
)

func TestUnsafePermissionsAreRefusedWithTheFix(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode
		refused bool
	}{
		{"private_file_is_accepted", 0o600, false},
		{"world_readable_file_is_accepted", 0o644, false},
		{"group_writable_file_is_refused", 0o620, true},
		{"world_writable_file_is_refused", 0o606, true},
		{"file_writable_by_everyone_is_refused", 0o666, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mirrorIn(t, "192.0.2.1\n")
			if err := os.Chmod(f.Path(), tt.mode); err != nil {
				t.Fatal(err)
			}
			_, _, loadErr := f.Load()
			_, addErr := f.Add(blocklist.Entry{Prefix: pfx("192.0.2.2/32")})
			_, removeErr := f.Remove(pfx("192.0.2.1/32"))
			for op, err := range map[string]error{"Load": loadErr, "Add": addErr, "Remove": removeErr} {
				if !tt.refused {
					if err != nil {
						t.Errorf("%s: %v", op, err)
					}
					continue
				}
				if !errors.Is(err, blocklist.ErrInsecure) {
					t.Errorf("%s = %v, want ErrInsecure", op, err)
					continue
				}
				if fix := "chmod 600 " + f.Path(); !strings.Contains(err.Error(), fix) {
					t.Errorf("%s error %q does not give the fix %q", op, err, fix)
				}
			}
			if tt.refused {
				if content := readFile(t, f); content != "192.0.2.1\n" {
					t.Errorf("a refused file was changed: %q", content)
				}
			}
		})
	}
}

func TestDirectoryWritableByOthersIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Chmod, not Mkdir's mode: the umask would mask it.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	f := blocklist.Open(filepath.Join(dir, "blocklist"))
	if err := os.WriteFile(f.Path(), []byte("192.0.2.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.Load()
	if !errors.Is(err, blocklist.ErrInsecure) || !strings.Contains(err.Error(), "chmod 700 "+dir) {
		t.Fatalf("Load = %v, want ErrInsecure with the chmod 700 fix", err)
	}
	if _, err := f.Add(blocklist.Entry{Prefix: pfx("192.0.2.2/32")}); !errors.Is(err, blocklist.ErrInsecure) {
		t.Errorf("Add = %v, want ErrInsecure", err)
	}
}

func TestFileOwnedByAnotherUserIsRefused(t *testing.T) {
	requireRoot(t)
	f := mirrorIn(t, "192.0.2.1\n")
	const nobody = 65534
	if err := os.Chown(f.Path(), nobody, nobody); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.Load()
	if !errors.Is(err, blocklist.ErrInsecure) || !strings.Contains(err.Error(), "chown root "+f.Path()) {
		t.Fatalf("Load = %v, want ErrInsecure with the chown fix", err)
	}
	if err := os.Chown(f.Path(), 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Load(); err != nil {
		t.Errorf("a root-owned file is refused: %v", err)
	}
}
