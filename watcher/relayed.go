package watcher

// Relayed reports whether line, a ban line that Parse counts, reached its
// log through syslog or the journal: a host name and a program tag stand
// between its timestamp and fail2ban's message, where fail2ban's own log
// file has its logger's name right after the timestamp. Any local user can
// write such a line (logger -t fail2ban.actions ...), while fail2ban's own
// file is writable by root only; `recidivist check` warns about it.
func Relayed(line []byte) bool {
	var st stamp
	n, _ := parseStamp(line, &st)
	_, own := afterLogger(skipBlanks(line[n:]))
	return !own
}
