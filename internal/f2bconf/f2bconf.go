// Package f2bconf reads the two settings of fail2ban's own configuration that
// decide whether recidivist can see bans at all: loglevel and logtarget, from
// fail2ban.conf, fail2ban.local and fail2ban.d/*.conf|*.local, in fail2ban's
// order of precedence.
package f2bconf

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DefaultDir is where fail2ban keeps its configuration.
const DefaultDir = "/etc/fail2ban"

// Settings are fail2ban's effective loglevel and logtarget, with the file
// that set each (empty when fail2ban's built-in default applies).
type Settings struct {
	LogLevel, LogLevelFrom   string
	LogTarget, LogTargetFrom string
}

// Read returns the effective settings of the fail2ban configuration in dir.
// A missing dir is fs.ErrNotExist; unset values get fail2ban's defaults
// (INFO, /var/log/fail2ban.log).
func Read(dir string) (Settings, error) {
	s := Settings{LogLevel: "INFO", LogTarget: "/var/log/fail2ban.log"}
	if _, err := os.Stat(dir); err != nil {
		return s, err
	}
	files := []string{filepath.Join(dir, "fail2ban.conf")}
	for _, ext := range []string{".conf", ".local"} {
		m, _ := filepath.Glob(filepath.Join(dir, "fail2ban.d", "*"+ext)) // the pattern is constant and valid
		sort.Strings(m)
		if ext == ".conf" {
			files = append(files, m...)
		} else {
			files = append(files, filepath.Join(dir, "fail2ban.local"))
			files = append(files, m...)
		}
	}
	// fail2ban's order: fail2ban.conf, fail2ban.d/*.conf, fail2ban.local, fail2ban.d/*.local.
	for _, f := range files {
		vals, err := definition(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return s, err
		}
		if v, ok := vals["loglevel"]; ok {
			s.LogLevel, s.LogLevelFrom = v, f
		}
		if v, ok := vals["logtarget"]; ok {
			s.LogTarget, s.LogTargetFrom = v, f
		}
	}
	return s, nil
}

// definition reads the keys of the [Definition] section of an INI file.
func definition(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vals := map[string]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			in = strings.EqualFold(strings.Trim(line, "[] "), "Definition")
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if ok {
			vals[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return vals, nil
}

// levels are Python logging's numbers for fail2ban's level names.
var levels = map[string]int{
	"CRITICAL": 50, "ERROR": 40, "WARNING": 30, "WARN": 30, "NOTICE": 25, "INFO": 20,
	"DEBUG": 10, "TRACEDEBUG": 7, "HEAVYDEBUG": 5, "MSG": 20,
}

// ShowsBans reports whether fail2ban (0.9 and later) writes its NOTICE Ban
// lines at this loglevel. An unknown level is reported as not understood.
func ShowsBans(level string) (bool, error) {
	l := strings.ToUpper(strings.TrimSpace(level))
	n, ok := levels[l]
	if !ok {
		v, err := strconv.Atoi(l)
		if err != nil {
			return false, fmt.Errorf("unknown fail2ban loglevel %q", level)
		}
		n = v
	}
	return n <= levels["NOTICE"], nil
}
