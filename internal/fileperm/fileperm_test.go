package fileperm

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWritableByOthers_and_DirReplaceable_follow_the_mode_bits(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name        string
		mode        fs.FileMode
		dir         bool
		writable    bool
		replaceable bool
		open        bool
	}{
		{"a private file", 0o600, false, false, false, false},
		{"a world-readable file", 0o644, false, false, false, true},
		{"a group-readable file", 0o640, false, false, false, true},
		{"a group-writable file", 0o660, false, true, false, true},
		{"a world-writable file", 0o606, false, true, false, true},
		{"a private directory", 0o700, true, false, false, false},
		{"a world-writable directory", 0o777, true, true, true, true},
		{"a world-writable sticky directory (as tmp is)", 0o777 | fs.ModeSticky, true, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			var err error
			if tc.dir {
				err = os.Mkdir(path, 0o700)
			} else {
				err = os.WriteFile(path, nil, 0o600)
			}
			if err == nil {
				err = os.Chmod(path, tc.mode)
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := WritableByOthers(fi); got != tc.writable {
				t.Errorf("WritableByOthers(%v) = %v, want %v", fi.Mode(), got, tc.writable)
			}
			if got := OpenToOthers(fi); got != tc.open {
				t.Errorf("OpenToOthers(%v) = %v, want %v", fi.Mode(), got, tc.open)
			}
			if tc.dir {
				if got := DirReplaceable(fi); got != tc.replaceable {
					t.Errorf("DirReplaceable(%v) = %v, want %v", fi.Mode(), got, tc.replaceable)
				}
			}
			if uid, foreign := ForeignOwner(fi); foreign {
				t.Errorf("ForeignOwner of a file this process made = uid %d, foreign", uid)
			}
		})
	}
}
