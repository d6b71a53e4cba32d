package blocklist

import (
	"iter"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// marker is the first word of every comment recidivist writes; a comment
// that starts with it carries the metadata fields parsed into Entry.
const marker = "recidivist"

// Entry is one blocked address or range of the mirror file.
type Entry struct {
	Prefix  netip.Prefix // canonical (masked; single address = /32 or /128)
	Added   time.Time    // zero if unknown (hand-written line)
	Expires time.Time    // zero = permanent
	Jails   []string     // from jails=
	Bans    int          // from bans=
	Manual  bool
	// Force marks a range wider than /16 (IPv4) or /32 (IPv6) that a person
	// meant to block (`ban --force` writes it): without it such a line is
	// refused. Written as the metadata word "force".
	Force bool
	// Net marks a range that net escalation made of several offenders of
	// one network (written "net"); Members are those offenders still in it
	// (members=A,B,C) and Holes the addresses unbanned inside it that it
	// lets through (holes=…). The kernel holds the range and its holes in
	// place of the members' own lines, which stay in the mirror.
	Net     bool
	Members []netip.Addr
	Holes   []netip.Prefix
	// Comment is the full comment text as written (without "# "). A
	// comment that starts with "recidivist" is written back verbatim, so a
	// rewrite never changes a line; any other comment on an entry that has
	// metadata (Added set) is appended as free text after the metadata.
	Comment string
}

// Expired reports whether e's expiry has come by now; an entry without one
// never expires.
func (e Entry) Expired(now time.Time) bool {
	return !e.Expires.IsZero() && !e.Expires.After(now)
}

// InForce yields the entries of es whose expiry has not come by now: what
// the kernel sets should hold. An expired entry stays in the mirror until
// the next expiry pass removes it, and is in force no more.
func InForce(es []Entry, now time.Time) iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		for _, e := range es {
			if !e.Expired(now) && !yield(e) {
				return
			}
		}
	}
}

// String returns the line as recidivist writes it, without a line ending:
//
//	203.0.113.7 # recidivist 2026-11-24T13:55:51Z jails=sshd,postfix bans=3 expires=2026-12-01T13:55:51Z
//	198.51.100.0/24 # recidivist 2026-11-24T13:55:51Z manual TEXT
//	10.0.0.0/8 # recidivist 2026-11-24T13:55:51Z manual force TEXT
//	198.51.100.0/24 # recidivist 2026-11-24T13:55:51Z net members=198.51.100.7,198.51.100.9,198.51.100.33 holes=198.51.100.9
//
// The metadata is written only when Added is set (the "recidivist TIME"
// header needs it); an entry without it is written as "ADDR" or
// "ADDR # Comment", its other fields dropped.
// Line breaks inside the comment become spaces: an entry is always one line.
func (e Entry) String() string {
	line := formatPrefix(e.Prefix)
	if c := e.comment(); c != "" {
		line += " # " + c
	}
	return line
}

// comment renders the comment part of the line.
func (e Entry) comment() string {
	text := strings.TrimSpace(replaceBytes(e.Comment, "\n\r", ' '))
	if isMarked(text) || e.Added.IsZero() {
		return text
	}
	var b strings.Builder
	b.WriteString(marker)
	b.WriteString(" ")
	b.WriteString(e.Added.UTC().Format(time.RFC3339))
	if len(e.Jails) > 0 {
		b.WriteString(" jails=")
		for i, j := range e.Jails {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(replaceBytes(j, ", \t\n\r", '_'))
		}
	}
	if e.Bans > 0 {
		b.WriteString(" bans=")
		b.WriteString(strconv.Itoa(e.Bans))
	}
	if e.Manual {
		b.WriteString(" manual")
	}
	if e.Force {
		b.WriteString(" force")
	}
	if e.Net {
		b.WriteString(" net")
		writeList(&b, " members=", e.Members, netip.Addr.String)
		writeList(&b, " holes=", e.Holes, formatPrefix)
	}
	if !e.Expires.IsZero() {
		b.WriteString(" expires=")
		b.WriteString(e.Expires.UTC().Format(time.RFC3339))
	}
	if text != "" {
		b.WriteString(" ")
		b.WriteString(text)
	}
	return b.String()
}

// writeList writes key and the comma-separated list of xs, if any.
func writeList[T any](b *strings.Builder, key string, xs []T, format func(T) string) {
	if len(xs) == 0 {
		return
	}
	b.WriteString(key)
	for i, x := range xs {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(format(x))
	}
}

// replaceBytes replaces each byte of s found in set by with: it keeps a
// comment on its line and a jail name one token of the jails= list. It works
// on bytes, not runes, so invalid UTF-8 that a human wrote survives as is.
func replaceBytes(s, set string, with byte) string {
	if !strings.ContainsAny(s, set) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if strings.IndexByte(set, c) >= 0 {
			b[i] = with
		}
	}
	return string(b)
}

// isMarked reports whether a comment was written by recidivist.
// It splits words as parseComment does, so the two always agree.
func isMarked(comment string) bool {
	rest, ok := strings.CutPrefix(comment, marker)
	if !ok {
		return false
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return rest == "" || unicode.IsSpace(r)
}

// parseComment fills e's metadata from a comment recidivist wrote:
// "recidivist [TIME] [jails=A,B] [bans=N] [manual] [force] [net [members=A,B]
// [holes=C,D]] [expires=TIME] [TEXT]".
// Fields are read in any order up to the first word that is not one of
// them (the free text). A field whose value does not parse ends the fields
// too and is kept as text: the line, and so the block, stays in force.
func (e *Entry) parseComment(comment string) {
	e.Comment = comment
	if isMarked(comment) {
		e.parseMetadata(comment)
	}
}

// parseMetadata reads the metadata words of a comment recidivist wrote into
// e and returns the free text that follows them.
func (e *Entry) parseMetadata(comment string) (note string) {
	rest := strings.TrimLeftFunc(comment[len(marker):], unicode.IsSpace)
	for i := 2; rest != ""; i++ { // word 1 is the marker
		end := strings.IndexFunc(rest, unicode.IsSpace)
		if end < 0 {
			end = len(rest)
		}
		w := rest[:end]
		if !(i == 2 && e.parseAdded(w)) && !e.parseField(w) {
			return rest
		}
		rest = strings.TrimLeftFunc(rest[end:], unicode.IsSpace)
	}
	return ""
}

// parseAdded reads the time that follows the marker, if it is one.
func (e *Entry) parseAdded(w string) bool {
	t, err := time.Parse(time.RFC3339, w)
	if err != nil {
		return false
	}
	e.Added = t
	return true
}

// parseField applies one metadata word and reports whether it was one.
func (e *Entry) parseField(w string) bool {
	switch w {
	case "manual":
		e.Manual = true
		return true
	case "force":
		e.Force = true
		return true
	case "net":
		e.Net = true
		return true
	}
	key, val, ok := strings.Cut(w, "=")
	if !ok {
		return false
	}
	switch key {
	case "jails":
		if val == "" {
			return false
		}
		e.Jails = strings.Split(val, ",")
	case "bans":
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return false
		}
		e.Bans = n
	case "members":
		as, ok := parseList(val, netip.ParseAddr)
		if !ok {
			return false
		}
		e.Members = as
	case "holes":
		ps, ok := parseList(val, ParsePrefix)
		if !ok {
			return false
		}
		e.Holes = ps
	case "expires":
		t, err := time.Parse(time.RFC3339, val)
		if err != nil {
			return false
		}
		e.Expires = t
	default:
		return false
	}
	return true
}

// parseList parses a non-empty comma-separated list.
func parseList[T any](val string, parse func(string) (T, error)) ([]T, bool) {
	if val == "" {
		return nil, false
	}
	parts := strings.Split(val, ",")
	out := make([]T, len(parts))
	for i, p := range parts {
		x, err := parse(p)
		if err != nil {
			return nil, false
		}
		out[i] = x
	}
	return out, true
}

// Rewritten returns e with its metadata to be written afresh (a comment
// recidivist wrote is otherwise kept verbatim): for an entry whose fields
// were changed, such as a net range's members.
func (e Entry) Rewritten() Entry {
	e.Comment = e.Note()
	return e
}

// Note returns the comment's free text: what follows the metadata of a
// comment recidivist wrote, or the whole comment of one written by hand.
func (e Entry) Note() string {
	if !isMarked(e.Comment) {
		return e.Comment
	}
	var scratch Entry
	return scratch.parseMetadata(e.Comment)
}
