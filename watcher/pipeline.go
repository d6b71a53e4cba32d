package watcher

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/recidivist/recidivist/internal/progress"
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
	if !p.admit(&p.stats, &p.lastLine, line, ban, verdict) {
		return Offender{}, false
	}
	return p.tracker.Observe(ban)
}

// admit is the decision between the Parser and the Tracker, shared by Line
// and the chunks of a parallel scan, which count into their own s and
// lastLine: it counts the parsed line in s, keeps the text of the latest
// ban in lastLine, and reports whether ban goes on to the Tracker.
func (p *Pipeline) admit(s *Stats, lastLine *[]byte, line []byte, ban Ban, verdict Verdict) bool {
	s.Lines++
	if verdict != Countable {
		return false
	}
	if !p.filter.Allow(ban) {
		s.Filtered++
		return false
	}
	if !ban.Time.After(p.countedUntil) && !p.countedUntil.IsZero() {
		s.Recounted++
		return false
	}
	s.Bans++
	s.BansByJail[ban.Jail]++
	if !ban.Time.Before(s.LastBan) {
		s.LastBan = ban.Time
		*lastLine = append((*lastLine)[:0], line...)
	}
	return true
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

// ScanFiles runs every line of the files at paths, in the order given,
// through p, calling onOffender for each offender. A file may be plain or
// gzip (recognised by its magic bytes, not its name). Lines longer than
// MaxLineLength are passed on cut, so the Parser counts them too long. It
// stops at the first file that cannot be read. A big plain file is parsed
// on every core (see scan_parallel.go), with exactly the same decisions and
// Stats.
func ScanFiles(paths []string, p *Pipeline, onOffender func(Offender)) error {
	return ScanFilesWith(context.Background(), paths, p, onOffender, ScanOptions{})
}

// ScanOptions tune ScanFilesWith.
type ScanOptions struct {
	// Progress, when not nil, reports the bytes read of all the files
	// together, with rate and ETA: a live line on its Terminal (default
	// stderr when it is one) or periodic log lines otherwise, never on
	// stdout. A scan that ends within the first interval reports nothing.
	Progress *progress.Options
}

// ScanFilesWith is ScanFiles with options and a context: once ctx ends it
// stops between two reads and returns ctx's error, with p holding what was
// read so far.
func ScanFilesWith(ctx context.Context, paths []string, p *Pipeline, onOffender func(Offender), opt ScanOptions) error {
	var rep *readProgress
	if opt.Progress != nil {
		var total int64
		for _, path := range paths {
			n, err := logSize(path)
			if err != nil {
				return err
			}
			total += n
		}
		rep = newReadProgress("scan", total, *opt.Progress)
		defer rep.rep.Done()
	}
	c := defaultChunking()
	for _, path := range paths {
		if err := scanPath(ctx, path, p, onOffender, c, rep); err != nil {
			return err
		}
	}
	return nil
}

// scanFile reads one file with the same line splitting as the Follower,
// reporting the bytes read to rep unless it is nil.
func scanFile(ctx context.Context, path string, p *Pipeline, onOffender func(Offender), rep *readProgress) error {
	f, err := NewFollower(FollowConfig{Path: path, MaxLine: MaxLineLength})
	if err != nil {
		return err
	}
	f.ctx = ctx
	lf, err := openAt(path, 0)
	if err != nil {
		return err
	}
	defer lf.Close()
	err = f.finish(lf, func(lines []Line) error {
		for _, l := range lines {
			if o, ok := p.Line(l.Text); ok {
				onOffender(o)
			}
		}
		if rep != nil {
			rep.rep.Add(rep.advance(lines[len(lines)-1]))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scanning %s: %w", path, err)
	}
	return nil
}
