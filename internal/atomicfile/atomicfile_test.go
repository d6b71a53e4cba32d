package atomicfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/nofollow"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name    string
		old     []byte // nil: no file before
		oldMode os.FileMode
		data    []byte
		perm    os.FileMode
	}{
		{name: "creates_a_missing_file_with_the_given_mode", data: []byte("a\n"), perm: 0o600},
		{name: "replaces_an_existing_file_and_its_mode", old: []byte("old content\n"), oldMode: 0o644, data: []byte("new\n"), perm: 0o600},
		{name: "writes_an_empty_file", data: []byte{}, perm: 0o640},
		{name: "ignores_the_umask", data: []byte("x"), perm: 0o666},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state")
			if tt.old != nil {
				if err := os.WriteFile(path, tt.old, tt.oldMode); err != nil {
					t.Fatal(err)
				}
			}
			old := syscall.Umask(0o077)
			defer syscall.Umask(old)
			if err := atomicfile.WriteFile(path, tt.data, tt.perm); err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tt.data) {
				t.Errorf("content = %q, want %q", got, tt.data)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.perm {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tt.perm)
			}
			assertNoTempFiles(t, dir, 1)
		})
	}
}

func TestWriteFillErrorLeavesTargetUntouched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := atomicfile.Write(path, 0o600, func(w io.Writer) error {
		if _, err := io.WriteString(w, "half of the new"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write error = %v, want it to wrap %v", err, boom)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "keep me" {
		t.Errorf("content = %q, want the old content", got)
	}
	assertNoTempFiles(t, dir, 1)
}

func TestWriteRefusesADirectory(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "sub")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	err := atomicfile.WriteFile(target, []byte("x"), 0o600)
	if !errors.Is(err, atomicfile.ErrNotRegular) {
		t.Fatalf("error = %v, want ErrNotRegular", err)
	}
	assertNoTempFiles(t, dir, 1)
}

// assertNoTempFiles checks that dir holds exactly want entries, so no temp
// file was left behind.
func assertNoTempFiles(t *testing.T, dir string, want int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != want {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want %d entries", names, want)
	}
}

func TestWriteRefusesASymlinkAndLeavesItAndItsTargetAlone(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "state")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	err := atomicfile.WriteFile(link, []byte("new\n"), 0o600)
	if !errors.Is(err, atomicfile.ErrNotRegular) || !errors.Is(err, nofollow.ErrSymlink) {
		t.Fatalf("WriteFile over a symlink = %v, want ErrNotRegular and ErrSymlink", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Errorf("the target changed: %q", b)
	}
}
