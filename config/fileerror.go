package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"
)

// FileError is a config file that cannot be used as it is: it cannot be
// read, or it is not valid TOML. It names the file, the line when known, and
// the fix. Commands exit 2 on it, as on any bad configuration.
type FileError struct {
	Path string
	Line int    // 1-based; 0 when the fault is not on one line
	What string // what is wrong, e.g. "key 'threshold' has already been defined"
	Fix  string // what to do about it
	Err  error  // the underlying error, for errors.Is
}

func (e *FileError) Error() string {
	where := "config file " + e.Path
	if e.Line > 0 {
		where += fmt.Sprintf(", line %d", e.Line)
	}
	return fmt.Sprintf("%s: %s; fix: %s", where, e.What, e.Fix)
}

func (e *FileError) Unwrap() error { return e.Err }

// openError explains why the config file at path could not be opened or
// read.
func openError(path string, err error) *FileError {
	fe := &FileError{Path: path, Err: err, What: err.Error()}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		fe.What = pe.Err.Error()
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fe.What = "does not exist"
		fe.Fix = "give an existing file with --config (or RECIDIVIST_CONFIG), or omit it to use " + DefaultPath + " or the built-in defaults"
	case errors.Is(err, syscall.EISDIR):
		fe.What = "is a directory, not a TOML file"
		fe.Fix = "give the TOML file itself with --config, e.g. --config " + DefaultPath
	case errors.Is(err, fs.ErrPermission):
		fe.Fix = "run as root, or make the file readable by this user"
	default:
		fe.Fix = "give a readable TOML file with --config"
	}
	return fe
}

// parseError explains a TOML decoding error of the file at path, whose
// content is b.
func parseError(path string, b []byte, err error) *FileError {
	fe := &FileError{Path: path, Err: err, What: err.Error(), Fix: "correct the TOML syntax there (see examples/recidivist.toml)"}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		fe.Line = pe.Position.Line
		fe.What = strings.TrimSuffix(pe.Message, ".")
	}
	switch {
	case utf16(b):
		fe.Line = 0
		fe.What = "is UTF-16 text (TOML files must be UTF-8)"
		fe.Fix = "save it as UTF-8, e.g. iconv -f UTF-16 -t UTF-8 " + path + " > recidivist.toml.new && mv recidivist.toml.new " + path
	case bytes.IndexByte(b, 0) >= 0:
		fe.What = "contains NUL bytes (a binary file, or zeroes left by a crash)"
		fe.Fix = "remove them or rewrite the file as plain UTF-8 text"
	case strings.Contains(pe.Message, "already been defined"):
		fe.Fix = "keep one of the definitions of that key"
	case strings.Contains(pe.Message, "out of range"):
		fe.Fix = "use a value within the key's range (see recidivist --help of the command)"
	}
	return fe
}

// utf16 reports whether b looks like UTF-16: a byte order mark, or a NUL in
// every other byte of its start.
func utf16(b []byte) bool {
	if bytes.HasPrefix(b, []byte{0xff, 0xfe}) || bytes.HasPrefix(b, []byte{0xfe, 0xff}) {
		return true
	}
	if len(b) < 4 {
		return false
	}
	return (b[0] == 0) != (b[1] == 0) && (b[2] == 0) != (b[3] == 0) && (b[0] == 0) == (b[2] == 0)
}

// readConfigFile reads the config file at path, refusing what is not a
// regular file (a directory, a FIFO that would block).
func readConfigFile(path string, fi os.FileInfo) ([]byte, error) {
	if fi.IsDir() {
		return nil, openError(path, &fs.PathError{Op: "read", Path: path, Err: syscall.EISDIR})
	}
	if !fi.Mode().IsRegular() {
		return nil, &FileError{Path: path, What: fmt.Sprintf("is not a regular file (%v)", fi.Mode().Type()), Fix: "give a TOML file with --config"}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, openError(path, err)
	}
	return b, nil
}
