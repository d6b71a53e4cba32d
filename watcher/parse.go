package watcher

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"
)

// MaxLineLength is the longest line the Parser looks at; a longer one is
// Skipped(TooLong). fail2ban's own lines stay far below it, so a longer line
// is corruption or someone else's data. The Follower uses the same bound
// for its read buffer.
const MaxLineLength = 64 << 10

// Verdict says what Parse made of a line.
type Verdict uint8

const (
	// NotBan is a line that is not a countable ban: Unban, Found, Restore Ban,
	// start-up chatter, continuation lines of a multi-line message...
	NotBan Verdict = iota
	// Countable means the returned Ban is filled in.
	Countable
	// Skipped is malformed input, counted by SkipReason in Parser.Skipped.
	Skipped
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case NotBan:
		return "NotBan"
	case Countable:
		return "Countable"
	case Skipped:
		return "Skipped"
	}
	return "Verdict(" + strconv.Itoa(int(v)) + ")"
}

// SkipReason says why a line was Skipped.
type SkipReason uint8

const (
	// TooLong: the line is longer than MaxLineLength.
	TooLong SkipReason = iota
	// NULByte: the line contains a NUL byte after its first other byte, or
	// is nothing but NUL bytes (the zero-filled tail of a log after a
	// crash). NUL bytes before a line are stripped.
	NULByte
	// InvalidUTF8: the line is not valid UTF-8.
	InvalidUTF8
	// BadAddress: a ban line whose address is not a valid unicast IP.
	BadAddress
	// BadJail: a ban line whose jail name is empty or holds blanks or brackets.
	BadJail
	// NoTimestamp: a ban line without its own timestamp; it never counts.
	NoTimestamp
	// BadTimestamp: a ban line whose timestamp has a field out of range.
	BadTimestamp

	numSkipReasons
)

var skipReasonNames = [numSkipReasons]string{
	TooLong:      "too-long",
	NULByte:      "nul-byte",
	InvalidUTF8:  "invalid-utf8",
	BadAddress:   "bad-address",
	BadJail:      "bad-jail",
	NoTimestamp:  "no-timestamp",
	BadTimestamp: "bad-timestamp",
}

// String names the reason as status and metrics show it ("bad-address").
func (r SkipReason) String() string {
	if r < numSkipReasons {
		return skipReasonNames[r]
	}
	return "SkipReason(" + strconv.Itoa(int(r)) + ")"
}

// ParserConfig configures a Parser.
type ParserConfig struct {
	// Location is the zone of the log's timestamps that carry no offset
	// (log-timezone); nil means time.Local.
	Location *time.Location
	// Now infers the year of traditional syslog stamps, which have none;
	// nil means time.Now.
	Now func() time.Time
}

// maxInterned bounds the jail-name table: a log full of invented jail names
// must not grow memory without bound. Beyond it names are still returned,
// just not shared.
const maxInterned = 4096

// Parser turns fail2ban log lines into Ban events. It is stateful and meant
// for one goroutine per log file: it remembers the time of the last
// timestamped line (a DST fall-back is resolved against it) and interns
// jail names. Skipped may be called from any goroutine.
type Parser struct {
	loc   *time.Location
	now   func() time.Time
	zone  zoneCache
	years yearCache

	// The instant (Unix seconds) of the last line with a valid timestamp.
	lastSec  int64
	haveLast bool

	jails   map[string]string
	skipped [numSkipReasons]atomic.Uint64

	// deferred holds the lines skim passed without reading their stamps,
	// in order, since the last settle (see skim).
	deferred [][]byte
}

// NewParser returns a Parser for one log file.
func NewParser(cfg ParserConfig) *Parser {
	p := &Parser{loc: cfg.Location, now: cfg.Now, jails: make(map[string]string)}
	if p.loc == nil {
		p.loc = time.Local
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.zone.loc = p.loc
	return p
}

// Skipped returns how many lines were skipped so far, by reason; reasons
// never seen are absent. It is safe to call while another goroutine parses.
func (p *Parser) Skipped() map[SkipReason]uint64 {
	m := make(map[SkipReason]uint64)
	for r := range p.skipped {
		if n := p.skipped[r].Load(); n > 0 {
			m[SkipReason(r)] = n
		}
	}
	return m
}

func (p *Parser) skip(r SkipReason) (Ban, Verdict) {
	p.skipped[r].Add(1)
	return Ban{}, Skipped
}

// banMarker precedes the address at the end of every ban line and of almost
// no other: Unban, Restore Ban, Increase Ban and "Found ..., Ban" all lack
// it. Looking for it first, backwards from the end of the line, keeps the
// other 90% of lines cheap.
var banMarker = []byte("] Ban ")

// maxAddrText is the longest address text: IPv6 with an embedded IPv4.
const maxAddrText = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")

// endsLikeBan reports whether s ends in "] Ban WORD" (then blanks). Only the
// last word and the few bytes before it are read.
func endsLikeBan(s []byte) bool {
	s = trimBlanks(s)
	i := lastSpace(s)
	if i+1 < len(banMarker) {
		return false
	}
	// Byte by byte, not bytes.Equal: the first byte tells nine lines in
	// ten apart, and a call to compare six bytes costs more than that.
	m := s[i+1-len(banMarker) : i+1]
	return m[0] == ']' && m[1] == ' ' && m[2] == 'B' && m[3] == 'a' && m[4] == 'n'
}

// lastSpace is bytes.LastIndexByte(s, ' '), eight bytes at a time: it runs
// on every line a scan skims, whose last word is short.
func lastSpace(s []byte) int {
	const low7 = 0x7f7f7f7f7f7f7f7f
	for len(s) >= 8 {
		y := binary.LittleEndian.Uint64(s[len(s)-8:]) ^ 0x2020202020202020
		// The high bit of each byte of t is set exactly where y's byte is
		// zero, that is where s holds a space.
		if t := ^((y&low7 + low7) | y | low7); t != 0 {
			return len(s) - 1 - bits.LeadingZeros64(t)/8
		}
		s = s[:len(s)-8]
	}
	return bytes.LastIndexByte(s, ' ')
}

// Parse reads one line (without its "\n"; a trailing "\r" is ignored).
// For Countable it returns the Ban: the jail, the address (IPv4-mapped IPv6
// folded to IPv4) and the line's timestamp in the Parser's Location. The
// returned Ban does not refer to line's memory.
//
// A line counts when it is "[JAIL] Ban ADDR" (then only trailing blanks)
// logged by fail2ban's actions logger at level NOTICE or WARNING, with its
// own timestamp, in any of these shapes (see parseStamp for the stamps):
//
//	TS fail2ban.actions        [PID]: NOTICE  [JAIL] Ban ADDR   0.9.1–1.1 file target
//	TS fail2ban.server.actions[PID]: NOTICE  [JAIL] Ban ADDR    0.9.0
//	TS fail2ban.actions[PID]: WARNING [JAIL] Ban ADDR           0.8 ([PID] since 0.8.12)
//	TS HOST fail2ban.actions[PID]: NOTICE [JAIL] Ban ADDR       syslog
//	TS HOST fail2ban-server[PID]: fail2ban.actions [PID]: ...   journal with daemon name
//	TS HOST fail2ban[PID]: [JAIL] Ban ADDR                      journal, short form
//
// A ban line without its own timestamp is Skipped(NoTimestamp): it never
// borrows the time of the line before it, so nobody who can only append
// untimed text (a continuation line, a forgery) makes a ban count. NUL
// bytes before the line are stripped (the zero-filled tail of a crash).
func (p *Parser) Parse(line []byte) (Ban, Verdict) {
	p.settle()
	if len(line) > 0 && line[0] == 0 {
		// The zero-filled tail a crash leaves: the line fail2ban appended
		// after it is whole, and counts.
		line = bytes.TrimLeft(line, "\x00")
		if len(line) == 0 {
			return p.skip(NULByte)
		}
	}
	if len(line) > MaxLineLength {
		return p.skip(TooLong)
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return p.skip(NULByte)
	}
	if !utf8.Valid(line) {
		return p.skip(InvalidUTF8)
	}
	return p.parseText(line)
}

// parseText is Parse for a line already known to be at most MaxLineLength
// bytes, free of NUL bytes and valid UTF-8 (with or without its "\r").
func (p *Parser) parseText(line []byte) (Ban, Verdict) {
	line = trimCR(line)
	// Every timestamp is read, not only those of ban lines, so that the
	// DST fall-back sees the line just before them.
	n, shape, sec, nsec := p.readStamp(line)

	if !endsLikeBan(line[n:]) {
		return Ban{}, NotBan
	}
	msg, ok := afterPrefix(skipBlanks(line[n:]))
	if !ok {
		return Ban{}, NotBan
	}
	jail, addrText, ok := splitMessage(msg)
	if !ok {
		return Ban{}, NotBan
	}
	if !validJail(jail) {
		return p.skip(BadJail)
	}
	addr, ok := parseUnicast(addrText)
	if !ok {
		return p.skip(BadAddress)
	}
	switch shape {
	case shapeInvalid:
		return p.skip(BadTimestamp)
	case shapeNone:
		// Never the time of the line before: a line without its own
		// timestamp is a continuation or a forgery, not fail2ban's record.
		return p.skip(NoTimestamp)
	}
	return Ban{
		Time: time.Unix(sec, int64(nsec)).In(p.loc),
		Jail: p.intern(jail),
		Addr: addr,
	}, Countable
}

func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

// readStamp reads the timestamp line starts with and, when it is valid,
// makes it the Parser's last instant; n is the stamp's length.
func (p *Parser) readStamp(line []byte) (n int, shape stampShape, sec int64, nsec int) {
	var st stamp
	n, shape = parseStamp(line, &st)
	if len(p.deferred) > 0 {
		if shape == shapeValid && p.alone(&st) {
			p.forgetDeferred() // this stamp names its instant without them
		} else {
			p.settle()
		}
	}
	if shape == shapeValid {
		sec, nsec = p.instant(&st)
		p.lastSec, p.haveLast = sec, true
	}
	return n, shape, sec, nsec
}

// skim is parseText for a reader that reads a whole log in order, as scan
// does: a line that cannot be a ban line (nine in ten) returns NotBan
// without its timestamp being read yet. Its stamp only matters as the
// last instant before a later line, so skim keeps the line and reads
// the last one kept when a later line needs it, or when settle is called;
// the lines before it are read too, in order, only when that one alone
// cannot say what the Parser would have ended in (no valid stamp, a wall
// time a DST change makes ambiguous, a syslog stamp, whose year is
// inferred from the first line of its day).
//
// line must stay valid and unchanged until the Parser's next settle, Parse
// or parseText; the result is exactly parseText's.
func (p *Parser) skim(line []byte) (Ban, Verdict) {
	if p.pass(line) {
		return Ban{}, NotBan
	}
	return p.parseText(line)
}

// pass is skim's first step: it reports whether line cannot be a ban line
// and, if so, keeps it for its stamp (see skim).
func (p *Parser) pass(line []byte) bool {
	t := trimCR(line)
	// endsLikeBan of the whole line is true whenever parseText's test of
	// the line after its stamp is.
	if endsLikeBan(t) {
		return false
	}
	p.deferred = append(p.deferred, t)
	return true
}

// settle reads the stamps skim deferred, leaving the Parser as parseText
// would have; the lines it kept may then change.
func (p *Parser) settle() {
	n := len(p.deferred)
	if n == 0 {
		return
	}
	lines := p.deferred
	p.deferred = p.deferred[:0] // readStamp below must not settle again
	if !p.readAlone(lines[n-1]) {
		for _, l := range lines[:n] {
			p.readStamp(l)
		}
	}
	clear(lines[:n]) // the lines belong to the caller's buffer
}

// forgetDeferred drops the lines skim deferred, keeping the memory.
func (p *Parser) forgetDeferred() {
	clear(p.deferred)
	p.deferred = p.deferred[:0]
}

// readAlone makes line's stamp the last instant and reports true when that
// needs no earlier line (see alone). Otherwise it changes nothing and
// reports false.
func (p *Parser) readAlone(line []byte) bool {
	var st stamp
	if _, shape := parseStamp(line, &st); shape != shapeValid || !p.alone(&st) {
		return false
	}
	p.lastSec, _ = p.instant(&st)
	p.haveLast = true
	return true
}

// alone tells whether the valid stamp st names one instant whatever line
// came before it: an offset is written in it, or the zone cache holds its
// wall time as unambiguous. A year-less stamp is never alone (its year
// depends on the day's first line).
func (p *Parser) alone(st *stamp) bool {
	if st.noYear {
		return false
	}
	if st.hasOffset {
		return true
	}
	civil := civilSeconds(st)
	return p.zone.valid && civil >= p.zone.lo && civil < p.zone.hi
}

// instant converts a parsed timestamp to Unix seconds and nanoseconds.
func (p *Parser) instant(st *stamp) (int64, int) {
	if st.noYear {
		st.year = p.years.inferYear(st, p.now, p.loc)
	}
	civil := civilSeconds(st)
	if st.hasOffset {
		return civil - int64(st.offset), st.nsec
	}
	return p.zone.unix(civil, p.lastSec, p.haveLast), st.nsec
}

// afterPrefix strips what precedes "[JAIL] Ban ADDR": the actions logger
// with its level, optionally behind a host and a daemon tag
// (fail2ban-server[PID]: or, in the journal's short form, fail2ban[PID]:
// with no logger and no level after it).
func afterPrefix(s []byte) ([]byte, bool) {
	for range 2 { // the first word may be the host
		if rest, ok := afterLogger(s); ok {
			return rest, true
		}
		if rest, ok := afterDaemon(s); ok {
			return rest, true
		}
		sp := bytes.IndexByte(s, ' ')
		if sp <= 0 {
			return nil, false
		}
		s = skipBlanks(s[sp:])
	}
	return nil, false
}

var (
	loggerNames = [][]byte{[]byte("fail2ban.actions"), []byte("fail2ban.server.actions")}
	daemonNames = [][]byte{[]byte("fail2ban-server"), []byte("fail2ban")}
	levelNames  = [][]byte{[]byte("NOTICE"), []byte("WARNING")}
)

// afterLogger strips "LOGGER[ ...][[PID]]: LEVEL " and returns the rest.
func afterLogger(s []byte) ([]byte, bool) {
	rest, ok := cutName(s, loggerNames)
	if !ok {
		return nil, false
	}
	rest = skipSpaces(rest)
	if rest, ok = afterTag(rest); !ok {
		return nil, false
	}
	return afterLevel(rest)
}

// afterDaemon strips "DAEMON[[PID]]: " and then either the logger and level
// or, as the journal writes it, an optional level alone.
func afterDaemon(s []byte) ([]byte, bool) {
	rest, ok := cutName(s, daemonNames)
	if !ok {
		return nil, false
	}
	if rest, ok = afterTag(rest); !ok {
		return nil, false
	}
	if r, ok := afterLogger(rest); ok {
		return r, true
	}
	if r, ok := afterLevel(rest); ok {
		return r, true
	}
	return rest, true
}

// cutName strips the first of names that s starts with and that is
// followed by '[', ':' or a space (so "fail2ban" does not match
// "fail2ban.filter").
func cutName(s []byte, names [][]byte) ([]byte, bool) {
	for _, name := range names {
		if len(s) > len(name) && bytes.HasPrefix(s, name) {
			switch s[len(name)] {
			case '[', ':', ' ':
				return s[len(name):], true
			}
		}
	}
	return nil, false
}

// afterTag strips an optional "[PID]", then ':' and at least one space.
func afterTag(s []byte) ([]byte, bool) {
	if len(s) > 0 && s[0] == '[' {
		i := 1
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == 1 || i >= len(s) || s[i] != ']' {
			return nil, false
		}
		s = s[i+1:]
	}
	if len(s) < 2 || s[0] != ':' || s[1] != ' ' {
		return nil, false
	}
	return skipSpaces(s[1:]), true
}

// afterLevel strips "NOTICE " or "WARNING " (with any padding).
func afterLevel(s []byte) ([]byte, bool) {
	for _, level := range levelNames {
		if len(s) > len(level) && bytes.HasPrefix(s, level) && s[len(level)] == ' ' {
			return skipSpaces(s[len(level):]), true
		}
	}
	return nil, false
}

// splitMessage splits "[JAIL] Ban ADDR   " into JAIL and ADDR.
func splitMessage(s []byte) (jail, addr []byte, ok bool) {
	if len(s) == 0 || s[0] != '[' {
		return nil, nil, false
	}
	end := bytes.IndexByte(s, ']')
	if end < 0 || !bytes.HasPrefix(s[end:], banMarker) {
		return nil, nil, false
	}
	return s[1:end], trimBlanks(s[end+len(banMarker):]), true
}

// maxJailLength is generous: fail2ban's own limit comes from the actions
// (iptables chain names), not from the jail.
const maxJailLength = 255

func validJail(b []byte) bool {
	if len(b) == 0 || len(b) > maxJailLength {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c == '[' || c == 0x7f {
			return false
		}
	}
	return true
}

// parseUnicast parses an address fail2ban banned: IPv4 or IPv6 without
// zone, IPv4-mapped IPv6 folded to IPv4, not unspecified, multicast or the
// IPv4 broadcast address. Loopback passes; the Filter always drops it.
func parseUnicast(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > maxAddrText {
		return netip.Addr{}, false
	}
	// netip.ParseAddr keeps nothing of its argument (a zone, which we refuse
	// anyway, is copied by unique.Make), and the error that may quote it is
	// dropped here, so viewing the bytes as a string saves an allocation
	// per ban line.
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() || a == broadcast4 {
		return netip.Addr{}, false
	}
	return a, true
}

var broadcast4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// intern returns jail as a string shared by every Ban of that jail, so that
// a ban line of a known jail allocates nothing.
func (p *Parser) intern(jail []byte) string {
	if s, ok := p.jails[string(jail)]; ok {
		return s
	}
	s := string(jail)
	if len(p.jails) < maxInterned {
		p.jails[s] = s
	}
	return s
}

func skipSpaces(s []byte) []byte {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}

func trimBlanks(s []byte) []byte {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func skipBlanks(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}
