// Package progress reports the progress of long work — a first-start
// backfill of big logs, a large restore — as done, rate and ETA: a live line
// redrawn in place on a terminal, a periodic log line otherwise (the systemd
// journal), and nothing at all for work that ends quickly.
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Reporter tracks one piece of work. Its methods are safe for concurrent use
// and cheap enough to call per line.
type Reporter struct {
	what, unit string
	total      int64
	term       io.Writer    // non-nil: redraw a live line here
	log        *slog.Logger // otherwise: periodic log lines
	every      time.Duration
	now        func() time.Time

	mu    sync.Mutex // guards the fields below
	done  int64
	start time.Time
	last  time.Time
	shown bool
}

// Options tune a Reporter; the zero value reports to stderr if it is a
// terminal and to slog.Default otherwise.
type Options struct {
	Terminal io.Writer        // where the live line goes; default os.Stderr when it is a terminal
	Logger   *slog.Logger     // default slog.Default()
	Every    time.Duration    // between reports; default 200ms on a terminal, 10s in logs
	Now      func() time.Time // default time.Now
}

// New starts reporting work on total units (lines, bytes, entries) called
// what ("backfill", "restore"); unit names them in the output.
func New(what string, total int64, unit string, opt Options) *Reporter {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Terminal == nil && IsTerminal(os.Stderr) {
		opt.Terminal = os.Stderr
	}
	if opt.Every == 0 {
		opt.Every = 10 * time.Second
		if opt.Terminal != nil {
			opt.Every = 200 * time.Millisecond
		}
	}
	now := opt.Now()
	return &Reporter{what: what, unit: unit, total: total, term: opt.Terminal, log: opt.Logger, every: opt.Every, now: opt.Now, start: now, last: now}
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Add records n more units done and reports if a report is due.
func (r *Reporter) Add(n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done += n
	if now := r.now(); now.Sub(r.last) >= r.every {
		r.last = now
		r.report(now, false)
	}
}

// Done ends the work: the live line is completed, or a final log line is
// written if any report was shown.
func (r *Reporter) Done() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shown {
		r.report(r.now(), true)
	}
}

func (r *Reporter) report(now time.Time, final bool) {
	r.shown = true
	elapsed := now.Sub(r.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(r.done) / elapsed.Seconds()
	}
	eta := time.Duration(0)
	if rate > 0 && r.total > r.done {
		eta = time.Duration(float64(r.total-r.done) / rate * float64(time.Second))
	}
	pct := 100.0
	if r.total > 0 {
		pct = 100 * float64(r.done) / float64(r.total)
	}
	if r.term != nil {
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(r.term, "\r%s: %d/%d %s (%.0f%%), %.0f %s/s, ETA %s   %s", r.what, r.done, r.total, r.unit, pct, rate, r.unit, eta.Round(time.Second), end)
		return
	}
	msg := r.what + " progress"
	if final {
		msg = r.what + " done"
	}
	r.log.Info(msg, "done", r.done, "total", r.total, "unit", r.unit, "percent", fmt.Sprintf("%.1f", pct),
		"rate_per_s", int64(rate), "eta", eta.Round(time.Second).String(), "elapsed", elapsed.Round(time.Millisecond).String())
}
