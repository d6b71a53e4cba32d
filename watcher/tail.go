package watcher

import (
	"context"
	"fmt"
	"io"
	"os"
)

// TailCounts is what SampleTail found in the end of a log.
type TailCounts struct {
	Lines   int // lines read
	Bans    int // countable bans the Filter lets through
	Relayed int // of those, the ones that came through syslog or the journal (see Relayed)
}

// SampleTail reads at most the last n bytes of the regular file f through
// the Parser and Filter a Watcher would use, and counts what it finds,
// until ctx ends. It is how recidivist check tells whether a log shows
// fail2ban's bans without reading a big log whole.
func SampleTail(ctx context.Context, f *os.File, n int64, p *Parser, filter *Filter) (TailCounts, error) {
	var c TailCounts
	fi, err := f.Stat()
	if err != nil {
		return c, err
	}
	if !fi.Mode().IsRegular() {
		return c, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if off := fi.Size() - n; off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return c, err
		}
	}
	err = EachLine(ctx, io.LimitReader(f, n), func(line []byte) {
		c.Lines++
		if b, v := p.Parse(line); v == Countable && filter.Allow(b) {
			c.Bans++
			if Relayed(line) {
				c.Relayed++
			}
		}
	})
	return c, err
}
