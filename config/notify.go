package config

import (
	"fmt"
	"net/url"
	"os/user"
	"strconv"
	"strings"
	"time"
)

// Notify is the validated notify-* settings (package notify).
type Notify struct {
	Exec        []string      // program and arguments, exec'd directly
	ExecTimeout time.Duration // the hook's process group is killed after it
	ExecUser    string        // run the hook as this user ("" = the daemon's)
	URL         string        // webhook
	Format      string        // json, slack or text
	Headers     [][2]string   // name, value
	RetryFor    time.Duration
	GroupWait   time.Duration
	GroupMax    int
	// RateCount events per RatePer (notify-rate); RatePer 0 = unlimited.
	RateCount int
	RatePer   time.Duration
}

// Enabled reports whether a hook or a webhook is configured.
func (n Notify) Enabled() bool { return len(n.Exec) > 0 || n.URL != "" }

// loadNotify validates the notify-* keys into cfg.Notify.
func loadNotify(cfg *Config, str func(string) string, strs func(string) []string, dur func(string) (time.Duration, bool), bad func(key, value, allowed string)) {
	n := &cfg.Notify
	n.Exec = strs("notify-exec")
	if len(n.Exec) > 0 && !strings.HasPrefix(n.Exec[0], "/") {
		bad("notify-exec", n.Exec[0], `an absolute path of a program, then its arguments, like ["/usr/local/bin/notify-admin", "--quiet"] (it is run directly, never through a shell)`)
	}
	var ok bool
	if n.ExecTimeout, ok = dur("notify-exec-timeout"); ok && n.ExecTimeout < time.Second {
		bad("notify-exec-timeout", str("notify-exec-timeout"), "a duration of at least 1s")
	}
	n.ExecUser = str("notify-exec-user")
	if n.ExecUser != "" {
		if _, err := user.Lookup(n.ExecUser); err != nil {
			bad("notify-exec-user", n.ExecUser, "the name of an existing user to run notify-exec as (e.g. nobody), or empty for the daemon's own")
		}
	}
	n.URL = str("notify-url")
	if n.URL != "" {
		if err := ValidateNotifyURL(n.URL); err != nil {
			bad("notify-url", n.URL, err.Error())
		}
	}
	n.Format = str("notify-format")
	if n.Format != "json" && n.Format != "slack" && n.Format != "text" {
		bad("notify-format", n.Format, "json (an array of events), slack ({\"text\": …}, also Mattermost and Rocket.Chat) or text")
	}
	for _, h := range strs("notify-header") {
		name, value, err := ParseHeader(h)
		if err != nil {
			bad("notify-header", h, err.Error())
			continue
		}
		n.Headers = append(n.Headers, [2]string{name, value})
	}
	if n.RetryFor, ok = dur("notify-retry-for"); ok && n.RetryFor < time.Second {
		bad("notify-retry-for", str("notify-retry-for"), "a duration of at least 1s")
	}
	if n.GroupWait, ok = dur("notify-group-wait"); ok && n.GroupWait < 0 {
		bad("notify-group-wait", str("notify-group-wait"), "a duration of 0 (send at once) or more")
	}
	if m, err := strconv.Atoi(str("notify-group-max")); err != nil || m < 1 || m > 10000 {
		bad("notify-group-max", str("notify-group-max"), "a whole number from 1 to 10000")
	} else {
		n.GroupMax = m
	}
	var err error
	if n.RateCount, n.RatePer, err = ParseRate(str("notify-rate")); err != nil {
		bad("notify-rate", str("notify-rate"), err.Error())
	}
}

// ValidateNotifyURL checks a webhook URL: http or https with a host.
func ValidateNotifyURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf(`an http:// or https:// URL with a host, like "https://hooks.slack.com/services/…"`)
	}
	return nil
}

// ParseHeader splits a notify-header value "Name: value".
func ParseHeader(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
		return "", "", fmt.Errorf(`a header like "Authorization: Bearer TOKEN"`)
	}
	return name, strings.TrimSpace(value), nil
}

// ParseRate parses notify-rate: "N/UNIT" (UNIT s, m, h, d, or a duration
// like 30m), or "" / "0" for no limit.
func ParseRate(s string) (count int, per time.Duration, err error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, 0, nil
	}
	allowed := fmt.Errorf(`a rate like "20/h", "5/m", "100/d" or "10/30m" (messages per period), or "0" for no limit`)
	num, unit, ok := strings.Cut(s, "/")
	count, cerr := strconv.Atoi(strings.TrimSpace(num))
	if !ok || cerr != nil || count < 1 {
		return 0, 0, allowed
	}
	unit = strings.TrimSpace(unit)
	switch unit {
	case "s", "m", "h", "d":
		unit = "1" + unit
	}
	per, err = ParseDuration(unit)
	if err != nil || per < time.Second {
		return 0, 0, allowed
	}
	return count, per, nil
}
