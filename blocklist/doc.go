// Package blocklist owns the mirror file, the durable truth of what is
// blocked, and the refusal rules (ignore list, too-wide ranges) that decide
// what may be blocked at all.
//
// It does not talk to the kernel: package ipsetstore makes the kernel equal
// to the entries this package hands out.
//
// # The file
//
// One entry a line, "ADDR[/PREFIX]" and optionally a comment; blank lines
// and lines starting with "#" are ignored. recidivist writes
//
//	203.0.113.7 # recidivist 2026-11-24T13:55:51Z jails=sshd,postfix bans=3 expires=2026-12-01T13:55:51Z
//	198.51.100.0/24 # recidivist 2026-11-24T13:55:51Z manual TEXT
//
// and reads the iptables-repeater recipe's ip.blocklist files as they are:
// the first field is the address, the rest of the line (with or without a
// leading "#") is the comment. Addresses are canonical (ParsePrefix), so
// 10.0.0.1, 10.0.0.1/32 and ::ffff:10.0.0.1 are one entry.
//
// A bad line is reported (LineError, with path and line number) and
// skipped; a line repeating an address listed earlier is reported too and
// dropped at the next rewrite. A line whose address the Policy refuses
// (loopback, the ignore list, non-unicast, 0.0.0.0/0, ::/0, a range wider
// than /16 or /32 without the "force" mark that `ban --force` writes) is
// reported the same way and is not in force: every reader of the file —
// daemon start and reconcile, restore, check, status, list — sees the same
// entries in force. A reported line shows at most a short, escaped start of
// its text. Every rewrite keeps the other lines exactly
// as written — order, comments, blank lines, bad lines, CRLF endings — so a
// human may edit the file with any editor.
//
// # Writes
//
// Add, Remove and Expire hold an flock on PATH+".lock" across
// read-modify-write and re-read the file under it, so the daemon, ban and
// unban commands and a human never lose each other's changes. The new
// content is written atomically (internal/atomicfile: temp file, fsync,
// rename, fsync of the directory) with mode 0600. A mirror or lock file that
// is a symbolic link is refused (ErrSymlink), never followed: it could point
// anywhere. A file or directory that other users could change is refused
// (ErrInsecure) with the chmod that fixes it.
package blocklist
