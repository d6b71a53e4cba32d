package config

import (
	"errors"
	"io/fs"
	"os"
)

// CheckLogs refuses, before anything else happens, a log path that exists
// but can never be followed: a directory, a FIFO (opening one blocks until a
// writer comes, and it cannot be seeked back to a checkpoint), a socket. A
// log that does not exist yet is fine: the daemon waits for fail2ban to
// create it.
func CheckLogs(paths []string) error {
	var errs []error
	for _, p := range paths {
		if p == "journal" {
			continue // the systemd journal, not a file
		}
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			continue // unreadable here is reported by whoever opens it, with the fix for permissions
		}
		switch t := fi.Mode().Type(); {
		case fi.IsDir():
			errs = append(errs, &Error{Key: "log", Value: p, Allowed: "the path of fail2ban's log file, not a directory (e.g. /var/log/fail2ban.log)"})
		case t&fs.ModeNamedPipe != 0:
			errs = append(errs, &Error{Key: "log", Value: p, Allowed: "a regular file: a FIFO (named pipe) is not supported, since it cannot be resumed from a checkpoint; let fail2ban write to a file (logtarget = /var/log/fail2ban.log) and point log at it"})
		case t&fs.ModeSocket != 0:
			errs = append(errs, &Error{Key: "log", Value: p, Allowed: "a regular file: a socket is not supported; point log at the file fail2ban writes"})
		}
	}
	return errors.Join(errs...)
}
