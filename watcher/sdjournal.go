package watcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// JournalLog is the value of log that reads fail2ban from the systemd
// journal (fail2ban's logtarget = SYSTEMD-JOURNAL, or sysout under
// systemd) instead of a file.
const JournalLog = "journal"

// IsJournal reports whether a configured log names the systemd journal.
func IsJournal(log string) bool { return log == JournalLog }

// DefaultJournalMatch selects fail2ban's entries by the unit journald
// itself records for the writing process (a trusted field, which no
// client can set): fail2ban-server writes from fail2ban.service both with
// logtarget = SYSTEMD-JOURNAL (SYSLOG_IDENTIFIER=fail2ban, the bare
// message) and with logtarget = sysout (SYSLOG_IDENTIFIER=fail2ban-server,
// _TRANSPORT=stdout, the message behind "fail2ban.actions [PID]: NOTICE").
// A `logger -t fail2ban` from any other unit or session is not selected.
var DefaultJournalMatch = []string{"_SYSTEMD_UNIT=fail2ban.service"}

// JournalConfig says where and what journalctl reads.
type JournalConfig struct {
	// Match lists journalctl matches, FIELD=VALUE or "+" (see
	// journalctl(1)); empty is DefaultJournalMatch.
	Match []string
	// Directory, if set, is read with --directory instead of the system
	// journal (tests, or a journal copied from another host).
	Directory string
	// Command is the journalctl binary; empty is "journalctl" on PATH.
	Command string
}

var journalMatchRE = regexp.MustCompile(`^[A-Z0-9_]+=.*$`)

// CheckJournalMatch reports the first match journalctl would not take as
// a match (an option, a field name in lower case, ...).
func CheckJournalMatch(match []string) error {
	for _, m := range match {
		if m != "+" && !journalMatchRE.MatchString(m) {
			return fmt.Errorf("journal match %q is not FIELD=VALUE (FIELD in upper case, e.g. _SYSTEMD_UNIT=fail2ban.service) or +: %w", m, ErrBadConfig)
		}
	}
	return nil
}

func (c JournalConfig) match() []string {
	if len(c.Match) == 0 {
		return DefaultJournalMatch
	}
	return c.Match
}

// Describe names the source for check and status: the journal, where it
// is read and the match.
func (c JournalConfig) Describe() string {
	where := "system journal"
	if c.Directory != "" {
		where = "journal in " + c.Directory
	}
	return fmt.Sprintf("%s, entries matching %s", where, strings.Join(c.match(), " "))
}

// args builds journalctl's argv (never through a shell): JSON, one entry
// a line, every field whole; then from cursor or, without one, since since
// (zero: from the start). It is --cursor, not --after-cursor, and the
// reader drops the cursor's own entry: journalctl's --after-cursor skips
// one entry blindly, so when the cursor's entry was vacuumed away it would
// lose the next one.
func (c JournalConfig) args(follow bool, cursor string, since time.Time) []string {
	a := []string{"--output=json", "--all", "--no-pager", "--quiet"}
	if c.Directory != "" {
		a = append(a, "--directory="+c.Directory)
	}
	if follow {
		a = append(a, "--follow", "--lines=all")
	}
	switch {
	case cursor != "":
		a = append(a, "--cursor="+cursor)
	case !since.IsZero():
		a = append(a, "--since=@"+strconv.FormatInt(since.Unix(), 10))
	}
	return append(a, c.match()...)
}

// journalEntry holds the fields of one journalctl JSON entry that make a
// Line. A field that is not valid UTF-8 comes as an array of bytes, which
// does not decode into a string: the entry is then read as not a ban.
type journalEntry struct {
	Cursor   string          `json:"__CURSOR"`
	Realtime string          `json:"__REALTIME_TIMESTAMP"`
	Message  json.RawMessage `json:"MESSAGE"`
	Ident    json.RawMessage `json:"SYSLOG_IDENTIFIER"`
	Logger   json.RawMessage `json:"LOGGER"`
}

// ErrJournalCursor is returned when journalctl refuses the saved cursor.
var ErrJournalCursor = errors.New("journal cursor not accepted")

// journalLine turns one JSON entry into the line the parser reads:
//
//	REALTIME IDENT: [LOGGER: ]MESSAGE
//
// REALTIME is the time journald received the entry (RFC 3339, UTC): the
// journal adds it, no client writes it, so a ban counts at that time
// although fail2ban's journal messages carry no timestamp of their own.
// IDENT is SYSLOG_IDENTIFIER (fail2ban or fail2ban-server, which the
// parser takes as fail2ban's daemon tag); LOGGER is shown only when the
// journal handler named a logger other than fail2ban's actions logger, so
// that such a message is never read as a ban.
func journalLine(raw []byte) (text []byte, cursor string, err error) {
	var e journalEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, "", fmt.Errorf("reading journalctl output: %w", err)
	}
	if e.Cursor == "" {
		return nil, "", fmt.Errorf("reading journalctl output: entry without __CURSOR")
	}
	usec, err := strconv.ParseInt(e.Realtime, 10, 64)
	if err != nil {
		return nil, "", fmt.Errorf("reading journalctl output: __REALTIME_TIMESTAMP %q: %w", e.Realtime, err)
	}
	msg, ident, logger := jsonString(e.Message), jsonString(e.Ident), jsonString(e.Logger)
	var b bytes.Buffer
	b.WriteString(time.UnixMicro(usec).UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
	b.WriteByte(' ')
	if ident == "" {
		ident = "-"
	}
	b.WriteString(ident)
	b.WriteString(": ")
	if logger != "" && logger != "fail2ban.actions" && logger != "fail2ban.server.actions" {
		b.WriteString(logger)
		b.WriteString(": ")
	}
	b.WriteString(msg)
	return b.Bytes(), e.Cursor, nil
}

// jsonString is raw decoded as a JSON string, or "" when it is none.
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// journalReader runs journalctl and delivers its entries as Lines, each
// carrying its cursor.
type journalReader struct {
	cfg    JournalConfig
	follow bool
	cursor string    // resume after it when set
	since  time.Time // else start here (zero: the whole journal)
	log    *slog.Logger
}

// journalBatch caps the lines handed over at once.
const journalBatch = 512

// Run starts journalctl and emits its entries in batches until it ends
// (without follow), ctx is done (nil) or emit fails. A saved cursor that
// journalctl does not accept is ErrJournalCursor.
func (r *journalReader) Run(ctx context.Context, emit func([]Line) error) error {
	cmdName := r.cfg.Command
	if cmdName == "" {
		cmdName = "journalctl"
	}
	cmd := exec.CommandContext(ctx, cmdName, r.cfg.args(r.follow, r.cursor, r.since)...)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("reading the journal: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("reading the journal: starting %s: %w (install systemd, or point log at fail2ban's log file)", cmdName, err)
	}
	readErr := r.read(ctx, out, emit)
	if readErr != nil {
		_ = cmd.Process.Kill()
	}
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if readErr != nil {
		return readErr
	}
	if waitErr != nil {
		msg := strings.TrimSpace(stderr.String())
		if r.cursor != "" && strings.Contains(strings.ToLower(msg), "cursor") {
			return fmt.Errorf("reading the journal after cursor %q: %s: %w", r.cursor, msg, ErrJournalCursor)
		}
		return fmt.Errorf("reading the journal with %s %s: %w: %s", cmdName, strings.Join(r.cfg.args(r.follow, r.cursor, r.since), " "), waitErr, msg)
	}
	if r.follow {
		return fmt.Errorf("reading the journal: journalctl --follow ended: %s", strings.TrimSpace(stderr.String()))
	}
	return nil
}

// read splits journalctl's output into entries and emits them, a batch
// whenever no more output is waiting or journalBatch entries are read.
func (r *journalReader) read(ctx context.Context, out io.Reader, emit func([]Line) error) error {
	br := bufio.NewReaderSize(out, 64<<10)
	var batch []Line
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := emit(batch)
		batch = batch[:0]
		return err
	}
	first := true
	for {
		raw, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(raw)) > 0 {
			text, cursor, perr := journalLine(raw)
			if perr != nil {
				return perr
			}
			if first && cursor == r.cursor {
				first = false
				continue // read before: the saved cursor's own entry
			}
			first = false
			l := Line{Text: text, Cursor: cursor}
			if len(text) > MaxLineLength {
				l.Text, l.Truncated = text[:MaxLineLength+1], true
			}
			batch = append(batch, l)
		}
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading journalctl output: %w", err)
		}
		if br.Buffered() == 0 || len(batch) >= journalBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// limitedWriter keeps the first n bytes written to it and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// journalSource reads l, the systemd journal, for the Watcher: after the
// saved cursor, or on first start from the window's start.
type journalSource struct {
	w *Watcher
	l *followed
}

func (w *Watcher) journalSource(l *followed) *journalSource {
	return &journalSource{w: w, l: l}
}

// Run follows the journal. When journalctl refuses the saved cursor (the
// journal was replaced or the cursor is malformed; a cursor whose entry
// was merely rotated or vacuumed away is resumed by journalctl at the
// next entry still there), it reads from the window's start again without
// counting twice the bans up to the last one counted, and says so.
func (s *journalSource) Run(ctx context.Context, emit func([]Line) error) error {
	w, l := s.w, s.l
	w.mu.Lock()
	var cursor string
	var lastBan time.Time
	if l.cp != nil {
		cursor, lastBan = l.cp.Cursor, l.cp.LastBan
	}
	w.mu.Unlock()
	r := &journalReader{cfg: w.cfg.Journal, follow: true, cursor: cursor, since: s.windowStart(), log: w.log}
	if cursor == "" {
		w.log.Info("reading fail2ban from the systemd journal since the window's start", "source", w.cfg.Journal.Describe(), "since", r.since)
	}
	err := r.Run(ctx, emit)
	if !errors.Is(err, ErrJournalCursor) {
		return err
	}
	w.log.Warn("the journal does not take the saved cursor any more; reading it again from the window's start, not counting again bans up to the last one counted",
		"source", w.cfg.Journal.Describe(), "since", r.since, "last_ban", lastBan, "err", err)
	w.mu.Lock()
	l.pipe.countedUntil = lastBan
	w.mu.Unlock()
	r.cursor = ""
	return r.Run(ctx, emit)
}

// windowStart is where a first reading of the journal starts: the start
// of the window (zero, the whole journal, when the window is unbounded).
func (s *journalSource) windowStart() time.Time {
	if s.w.cfg.Window <= 0 {
		return time.Time{}
	}
	return s.w.cfg.Now().Add(-s.w.cfg.Window)
}

// ScanJournal reads every entry of the journal cfg selects since since
// (zero: all), oldest first, through p as scan reads files, and hands
// offenders to onOffender. It returns ctx's error when ctx ends first.
func ScanJournal(ctx context.Context, cfg JournalConfig, since time.Time, p *Pipeline, onOffender func(Offender)) error {
	if err := CheckJournalMatch(cfg.Match); err != nil {
		return err
	}
	r := &journalReader{cfg: cfg, since: since}
	err := r.Run(ctx, func(lines []Line) error {
		for _, l := range lines {
			if o, ok := p.Line(l.Text); ok {
				onOffender(o)
			}
		}
		return nil
	})
	if err == nil {
		err = ctx.Err()
	}
	return err
}
