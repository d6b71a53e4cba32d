package watcher

import (
	"maps"
	"time"
)

// Pipeline is the one decision path from log lines to offenders, shared by
// the daemon and `recidivist scan`: parse the line, filter the ban by jail
// and ignore list, count it in the tracker. It is not safe for concurrent
// use (the Parser is per log and stateful); the Tracker may be shared by
// several Pipelines driven from one goroutine.
type Pipeline struct {
	parser  *Parser
	filter  *Filter
	tracker *Tracker
	stats   Stats
	// countedUntil: bans at or before it were counted before a restart
	// (see Watcher); zero for scan.
	countedUntil time.Time
	// lastLine is the text of the last counted ban, kept as bytes and
	// reused so counting a ban does not allocate; Stats makes the string.
	lastLine []byte
	// onBan hears every counted ban (Config.OnBan); nil for scan.
	onBan func(Ban)
}

// NewPipeline composes a Parser, a Filter and a Tracker.
func NewPipeline(p *Parser, f *Filter, t *Tracker) *Pipeline {
	return &Pipeline{parser: p, filter: f, tracker: t, stats: Stats{BansByJail: make(map[string]uint64)}}
}

// Stats counts what a Pipeline has seen.
type Stats struct {
	Lines       uint64                // lines read
	Bans        uint64                // countable bans that passed the filter, handed to the Tracker (which ignores those older than its horizon or forgiven)
	Filtered    uint64                // countable bans dropped by the filter (excluded jail, ignored address)
	Recounted   uint64                // bans not counted because a lost checkpoint's log was read again (see Watcher)
	BansByJail  map[string]uint64     // Bans by jail
	Skipped     map[SkipReason]uint64 // malformed lines by reason
	LastBan     time.Time             // time written in the last counted ban line; zero if none
	LastBanLine string                // that line
}

// SkippedTotal is the number of malformed lines, whatever the reason.
func (s Stats) SkippedTotal() uint64 {
	var n uint64
	for _, c := range s.Skipped {
		n += c
	}
	return n
}

// merge adds o's counts to s (which it may modify) and keeps the latest
// last ban of the two.
func (s Stats) merge(o Stats) Stats {
	s.Lines += o.Lines
	s.Bans += o.Bans
	s.Filtered += o.Filtered
	s.Recounted += o.Recounted
	if s.BansByJail == nil {
		s.BansByJail = make(map[string]uint64)
	}
	for j, n := range o.BansByJail {
		s.BansByJail[j] += n
	}
	if s.Skipped == nil {
		s.Skipped = make(map[SkipReason]uint64)
	}
	for r, n := range o.Skipped {
		s.Skipped[r] += n
	}
	if o.LastBan.After(s.LastBan) {
		s.LastBan, s.LastBanLine = o.LastBan, o.LastBanLine
	}
	return s
}

// Line runs one log line (without its newline) through the decision and
// reports whether it made an address an offender. The Tracker then forgets
// that address: each offender is reported once.
func (p *Pipeline) Line(line []byte) (Offender, bool) {
	ban, verdict := p.parser.Parse(line)
	return p.decide(line, ban, verdict)
}

// skimLine is Line for scan, which reads whole logs in order: a line known
// to be plain text (see plainASCII) is skimmed (see Parser.skim), and an
// offender goes to onOffender.
func (p *Pipeline) skimLine(line []byte, plain bool, onOffender func(Offender)) {
	if plain && p.parser.pass(line) {
		p.stats.Lines++ // nine lines in ten: no Ban or Offender to move around
		return
	}
	var ban Ban
	var verdict Verdict
	if plain {
		ban, verdict = p.parser.parseText(line)
	} else {
		ban, verdict = p.parser.Parse(line)
	}
	if verdict != Countable {
		p.stats.Lines++
		return
	}
	if o, ok := p.decide(line, ban, verdict); ok {
		onOffender(o)
	}
}

// decide counts a parsed line and hands a countable ban that passes the
// filter to the Tracker.
func (p *Pipeline) decide(line []byte, ban Ban, verdict Verdict) (Offender, bool) {
	p.stats.Lines++
	if verdict != Countable {
		return Offender{}, false
	}
	if !p.filter.Allow(ban) {
		p.stats.Filtered++
		return Offender{}, false
	}
	if !ban.Time.After(p.countedUntil) && !p.countedUntil.IsZero() {
		p.stats.Recounted++
		return Offender{}, false
	}
	p.stats.Bans++
	p.stats.BansByJail[ban.Jail]++
	if p.onBan != nil {
		p.onBan(ban)
	}
	if !ban.Time.Before(p.stats.LastBan) {
		p.stats.LastBan = ban.Time
		p.lastLine = append(p.lastLine[:0], line...)
	}
	return p.tracker.Observe(ban)
}

// Stats returns a copy of the counts so far.
func (p *Pipeline) Stats() Stats {
	s := p.stats
	if len(p.lastLine) > 0 {
		s.LastBanLine = string(p.lastLine)
	}
	s.BansByJail = maps.Clone(p.stats.BansByJail)
	s.Skipped = p.parser.Skipped()
	return s
}
