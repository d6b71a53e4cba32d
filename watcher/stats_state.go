package watcher

import (
	"maps"
	"time"
)

// savedStats is one log's Stats in the state file, so that status shows
// them while the daemon is stopped and a restarted daemon counts on from
// them. Skip reasons are stored by name ("bad-address"), not by number.
type savedStats struct {
	Log         string            `json:"log"`
	Lines       uint64            `json:"lines"`
	Bans        uint64            `json:"bans"`
	Filtered    uint64            `json:"filtered,omitempty"`
	Recounted   uint64            `json:"recounted,omitempty"`
	BansByJail  map[string]uint64 `json:"bans_by_jail,omitempty"`
	Skipped     map[string]uint64 `json:"skipped,omitempty"`
	LastBan     time.Time         `json:"last_ban,omitzero"`
	LastBanLine string            `json:"last_ban_line,omitempty"`
}

func saveStats(log string, s Stats) savedStats {
	ss := savedStats{Log: log, Lines: s.Lines, Bans: s.Bans, Filtered: s.Filtered, Recounted: s.Recounted,
		BansByJail: maps.Clone(s.BansByJail), LastBan: s.LastBan, LastBanLine: s.LastBanLine}
	for r, n := range s.Skipped {
		if ss.Skipped == nil {
			ss.Skipped = make(map[string]uint64)
		}
		ss.Skipped[r.String()] = n
	}
	return ss
}

// stats converts back; a skip reason this version does not know is
// dropped (a newer daemon wrote it).
func (ss savedStats) stats() Stats {
	s := Stats{Lines: ss.Lines, Bans: ss.Bans, Filtered: ss.Filtered, Recounted: ss.Recounted,
		BansByJail: make(map[string]uint64, len(ss.BansByJail)), Skipped: make(map[SkipReason]uint64),
		LastBan: ss.LastBan, LastBanLine: ss.LastBanLine}
	maps.Copy(s.BansByJail, ss.BansByJail)
	for name, n := range ss.Skipped {
		for r, known := range skipReasonNames {
			if name == known {
				s.Skipped[SkipReason(r)] += n
			}
		}
	}
	return s
}

// continueFrom makes p count on from s, the Stats of an earlier run on the
// same log. Call it before the first line.
func (p *Pipeline) continueFrom(s Stats) {
	p.stats = s
	p.stats.Skipped = nil // the Parser counts those
	p.stats.LastBanLine = ""
	p.stats.BansByJail = maps.Clone(s.BansByJail)
	if p.stats.BansByJail == nil {
		p.stats.BansByJail = make(map[string]uint64)
	}
	p.lastLine = []byte(s.LastBanLine)
	for r, n := range s.Skipped {
		if r < numSkipReasons {
			p.parser.skipped[r].Add(n)
		}
	}
}

// adoptSkipped adds old's skip counts to p's, when a Parser replaces
// another (a reload with a new time zone) so that no count is lost.
func (p *Parser) adoptSkipped(old *Parser) {
	for r := range p.skipped {
		p.skipped[r].Add(old.skipped[r].Load())
	}
}
