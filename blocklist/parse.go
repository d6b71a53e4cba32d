package blocklist

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// LineError reports a line of the mirror that was skipped. Every other
// line stays in force.
type LineError struct {
	Path string // the file
	Line int    // 1-based
	// Text is the line as written, without its line ending. It may hold
	// anything (the mirror may be another file put in its place): Error
	// never shows more than a short, escaped start of it.
	Text string
	// Err is why it was skipped: it wraps ErrNotAddress, ErrDuplicate, or
	// the refusal of the Policy (ErrIgnored, ErrEverything, ErrNotUnicast,
	// ErrTooWide).
	Err error
}

// Error returns "PATH:LINE: what is wrong, what to do".
func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
}

// Unwrap gives errors.Is access to the sentinel.
func (e *LineError) Unwrap() error { return e.Err }

// lineKind says what a line of the file is and so how a rewrite treats it.
type lineKind uint8

const (
	kindOther     lineKind = iota // blank or "#" line: kept verbatim
	kindEntry                     // an entry in force
	kindBad                       // no address: kept verbatim for the human to fix
	kindDuplicate                 // address listed earlier: dropped on rewrite
	kindRefused                   // an address the policy refuses: kept verbatim, not in force
)

// line is one line of the file as read.
type line struct {
	text  string // without its line ending
	kind  lineKind
	entry Entry // when kind is kindEntry, kindDuplicate or kindRefused
}

// document is the whole file, kept line by line so that a rewrite preserves
// what a human wrote: order, comments, blank lines, unknown text, even lines
// that do not parse.
type document struct {
	lines []line
	crlf  bool // the file used CRLF line endings: keep them
	bom   bool // the file started with a UTF-8 byte order mark: keep it
}

const utf8BOM = "\xEF\xBB\xBF"

// parseDocument splits data into lines and parses each; a line whose
// address policy refuses is not in force. path only labels the errors.
// Every line's text is a substring of data: no allocation per line.
func parseDocument(path string, data string, policy Policy) (*document, []*LineError) {
	// Sized up front: for a large mirror, growing this by doubling costs
	// more than the parsing.
	d := &document{lines: make([]line, 0, strings.Count(data, "\n")+1)}
	if rest, ok := strings.CutPrefix(data, utf8BOM); ok {
		d.bom, data = true, rest
	}
	var errs []*LineError
	for n := 1; len(data) > 0; n++ {
		raw, rest, found := strings.Cut(data, "\n")
		data = rest
		if n == 1 && found && strings.HasSuffix(raw, "\r") {
			d.crlf = true
		}
		text := strings.TrimSuffix(raw, "\r")
		l := line{text: text}
		e, isEntry, err := parseLine(text)
		switch {
		case err != nil:
			l.kind = kindBad
			errs = append(errs, &LineError{Path: path, Line: n, Text: text, Err: err})
		case !isEntry:
			l.kind = kindOther
		default:
			if err := policy.CheckEntry(e); err != nil {
				l.kind, l.entry = kindRefused, e
				errs = append(errs, &LineError{Path: path, Line: n, Text: text,
					Err: fmt.Errorf("%w; the line is not in force (delete the line to silence this)", err)})
				break
			}
			l.kind, l.entry = kindEntry, e
		}
		d.lines = append(d.lines, l)
	}
	if dups := d.markDuplicates(path); len(dups) > 0 {
		errs = append(errs, dups...)
		slices.SortStableFunc(errs, func(a, b *LineError) int { return cmp.Compare(a.Line, b.Line) })
	}
	return d, errs
}

// markDuplicates marks every entry line whose prefix an earlier line lists
// as a duplicate, and reports each. It sorts (prefix, line) pairs rather
// than filling a map: for a million entries that is several times faster.
func (d *document) markDuplicates(path string) []*LineError {
	type at struct {
		p netip.Prefix
		i int
	}
	all := make([]at, 0, len(d.lines))
	for i, l := range d.lines {
		if l.kind == kindEntry {
			all = append(all, at{l.entry.Prefix, i})
		}
	}
	slices.SortFunc(all, func(a, b at) int { return cmp.Or(a.p.Compare(b.p), cmp.Compare(a.i, b.i)) })
	var errs []*LineError
	for k := 1; k < len(all); k++ {
		first := k - 1
		for k < len(all) && all[k].p == all[first].p {
			l := &d.lines[all[k].i]
			l.kind = kindDuplicate
			errs = append(errs, &LineError{Path: path, Line: all[k].i + 1, Text: l.text,
				Err: fmt.Errorf("%s: %w on line %d; delete this line", formatPrefix(l.entry.Prefix), ErrDuplicate, all[first].i+1)})
			k++
		}
	}
	return errs
}

// parseLine parses one line. Blank and "#" lines are not entries. The first
// field is the address; the rest of the line, with a leading "#" removed, is
// the comment. That reads recidivist's own lines and the iptables-repeater
// recipe's ip.blocklist lines ("1.2.3.4 # fail2ban/DATE: auto-add ...",
// and plain "1.2.3.4" or "1.2.3.4 text" that its awk '{print $1}' accepts).
func parseLine(text string) (Entry, bool, error) {
	t := strings.TrimSpace(text)
	if t == "" || t[0] == '#' {
		return Entry{}, false, nil
	}
	end := strings.IndexAny(t, " \t\v\f#")
	if end < 0 {
		end = len(t)
	}
	p, err := ParsePrefix(t[:end])
	if err != nil {
		return Entry{}, false, fmt.Errorf("%w; fix or delete the line", err)
	}
	// A stray CR inside a line is no line break here, but it is in many
	// editors and terminals: the comment shows it as a space, as String
	// writes it.
	comment := strings.TrimSpace(replaceBytes(t[end:], "\r", ' '))
	if c, ok := strings.CutPrefix(comment, "#"); ok {
		comment = strings.TrimSpace(c)
	}
	e := Entry{Prefix: p}
	e.parseComment(comment)
	return e, true, nil
}

// entries returns the entries in force, in file order.
func (d *document) entries() []Entry {
	n := 0
	for _, l := range d.lines {
		if l.kind == kindEntry {
			n++
		}
	}
	es := make([]Entry, 0, n)
	for _, l := range d.lines {
		if l.kind == kindEntry {
			es = append(es, l.entry)
		}
	}
	return es
}

// listed returns those of ps that a line in force lists. One pass over
// the lines: a change names a handful of prefixes, and a map of every
// line's prefix would cost far more to build (a million random writes for
// a big mirror) than the comparisons.
func (d *document) listed(ps map[netip.Prefix]bool) map[netip.Prefix]bool {
	found := make(map[netip.Prefix]bool, len(ps))
	for _, l := range d.lines {
		if l.kind == kindEntry && ps[l.entry.Prefix] {
			found[l.entry.Prefix] = true
		}
	}
	return found
}

// dropRefused deletes the refused lines that list one of ps and returns
// how many went.
func (d *document) dropRefused(ps map[netip.Prefix]bool) int {
	kept := d.lines[:0]
	for _, l := range d.lines {
		if l.kind == kindRefused && ps[l.entry.Prefix] {
			continue
		}
		kept = append(kept, l)
	}
	n := len(d.lines) - len(kept)
	d.lines = kept
	return n
}

// add appends e as a new line; the caller knows e.Prefix is not listed.
func (d *document) add(e Entry) {
	d.lines = append(d.lines, line{text: e.String(), kind: kindEntry, entry: e})
}

// remove drops every line that lists a prefix for which drop is true, and
// returns the entries of those in force or refused (the line is gone either
// way) and how many lines went (a duplicate line goes too).
func (d *document) remove(drop func(Entry) bool) (removed []Entry, lines int) {
	kept := d.lines[:0]
	for _, l := range d.lines {
		if (l.kind == kindEntry || l.kind == kindDuplicate || l.kind == kindRefused) && drop(l.entry) {
			if l.kind != kindDuplicate {
				removed = append(removed, l.entry)
			}
			continue
		}
		kept = append(kept, l)
	}
	lines = len(d.lines) - len(kept)
	d.lines = kept
	return removed, lines
}

// bytes renders the file: every line kept verbatim except duplicates, which
// are dropped, so recidivist never writes an address twice.
func (d *document) bytes() []byte {
	eol := "\n"
	if d.crlf {
		eol = "\r\n"
	}
	var b bytes.Buffer
	if d.bom {
		b.WriteString(utf8BOM)
	}
	for _, l := range d.lines {
		if l.kind == kindDuplicate {
			continue
		}
		b.WriteString(l.text)
		b.WriteString(eol)
	}
	return b.Bytes()
}

// rangeContaining returns a listed range wider than p that contains it.
func (d *document) rangeContaining(p netip.Prefix) (netip.Prefix, bool) {
	for _, l := range d.lines {
		if l.kind == kindEntry && l.entry.Prefix.Bits() < p.Bits() && l.entry.Prefix.Contains(p.Addr()) {
			return l.entry.Prefix, true
		}
	}
	return netip.Prefix{}, false
}
