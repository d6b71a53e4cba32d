package watcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// Line is one complete line of a followed log.
type Line struct {
	// Text is the line without its newline, cut to MaxLine+1 bytes when the
	// line was longer. It is only valid during the callback it is passed to.
	Text []byte
	// Truncated says the line was longer than MaxLine and Text is cut.
	Truncated bool
	// File is the file the line was read from.
	File FileID
	// Offset is the position just after the line's newline in that file
	// (in the decompressed stream for a .gz): where reading resumes.
	Offset int64
	// Cursor is the journal cursor of a line read from the systemd journal
	// (see JournalLog), where reading resumes; empty for a file.
	Cursor string
}

// Segment is one file to read from Offset on.
type Segment struct {
	Path   string
	Offset int64
}

// FollowConfig says what a Follower follows and how.
type FollowConfig struct {
	// Path is the live log, e.g. /var/log/fail2ban.log. Its directory is
	// watched and must exist.
	Path string
	// Start lists files to read first, oldest first (see planStart). Every
	// one is read to its end; the last one, when it is not gzip, is then
	// followed until the writer moves to a new file at Path. Empty means
	// Path from offset 0.
	Start []Segment
	// MaxLine is the longest line delivered whole; longer lines arrive cut,
	// with Truncated set, and are never buffered beyond MaxLine+1 bytes.
	MaxLine int
	// Logger receives warnings and rotation notices (default slog.Default).
	Logger *slog.Logger
}

// ErrBadConfig is returned for a configuration that cannot work.
var ErrBadConfig = errors.New("invalid configuration")

// readChunk is how much of the log is read at once.
const readChunk = 64 << 10

// Follower follows one log through rotation, truncation, deletion and
// re-creation, without polling: it sleeps until fsnotify reports a change
// in the log's directory. It is not safe for concurrent use.
type Follower struct {
	cfg           FollowConfig
	log           *slog.Logger
	base          string   // file name of cfg.Path; events on other names are ignored
	cur           *logFile // the file being followed; nil while Path is missing
	buf           []byte
	batch         []Line
	warnedMissing bool
	seen          seenFiles // files read to their end
	// ctx is Run's (Background before it), checked between two reads.
	ctx context.Context
}

// NewFollower checks cfg and returns a Follower; nothing is opened before
// Run.
func NewFollower(cfg FollowConfig) (*Follower, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("following a log: empty path: %w", ErrBadConfig)
	}
	if cfg.MaxLine <= 0 {
		return nil, fmt.Errorf("following %s: MaxLine %d must be positive: %w", cfg.Path, cfg.MaxLine, ErrBadConfig)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Follower{
		cfg:  cfg,
		log:  log.With("log", cfg.Path),
		base: filepath.Base(cfg.Path),
		buf:  make([]byte, readChunk),
		ctx:  context.Background(),
	}, nil
}

// Run reads the start segments, then follows the log until ctx is done
// (returning nil) or emit or the file system fails (returning that error).
// emit receives the lines of each read in order; a line's Text is only
// valid during the call.
func (f *Follower) Run(ctx context.Context, emit func([]Line) error) error {
	f.ctx = ctx
	err := f.run(ctx, emit)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil // stopped between two reads
	}
	return err
}

func (f *Follower) run(ctx context.Context, emit func([]Line) error) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("starting to watch %s: %w", f.cfg.Path, err)
	}
	defer w.Close()
	dir := filepath.Dir(f.cfg.Path)
	// The watch is in place before the first read, so a write between the
	// read and the watch cannot go unnoticed.
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watching directory %s: %w", dir, err)
	}
	defer f.closeCur()
	if err := f.start(emit); err != nil {
		return err
	}
	if err := f.check(emit); err != nil {
		return err
	}
	// Every event is acted on at once, so that a new Ban line is read
	// within microseconds of its write. Events already queued behind it
	// (the rest of one rotation, a flood of writes; inotify itself merges
	// repeated modifications that were not read yet) are taken along: one
	// read to the end of the file covers them all, and any event that
	// comes after that read starts another.
	ours := func(ev fsnotify.Event) bool { return strings.HasPrefix(filepath.Base(ev.Name), f.base) }
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("watching directory %s: event stream closed", dir)
			}
			if !ours(ev) {
				continue
			}
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("watching directory %s: error stream closed", dir)
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				f.log.Warn("file watch error; rereading the log", "err", err)
			}
			// Events may have been lost: look at the files themselves.
		}
		if !drain(w.Events) {
			return fmt.Errorf("watching directory %s: event stream closed", dir)
		}
		if err := f.check(emit); err != nil {
			return err
		}
	}
}

// drain takes the events already queued on events without waiting; false
// means the stream is closed.
func drain(events <-chan fsnotify.Event) bool {
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return false
			}
		default:
			return true
		}
	}
}

// start reads the start segments; the last plain one stays open as the
// followed file.
func (f *Follower) start(emit func([]Line) error) error {
	for i, seg := range f.cfg.Start {
		lf, err := openAt(seg.Path, seg.Offset)
		if errors.Is(err, fs.ErrNotExist) {
			f.log.Warn("log to resume from vanished; skipping it", "file", seg.Path)
			continue
		}
		if err != nil {
			return err
		}
		if i == len(f.cfg.Start)-1 && !lf.gz {
			f.cur = lf
			return f.readAvailable(lf, emit)
		}
		err = f.finish(lf, emit)
		lf.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// check brings the follower up to date after file events: it rereads the
// followed file (starting over if it was truncated), and moves to the file
// now at Path once the writer has started writing there.
func (f *Follower) check(emit func([]Line) error) error {
	if f.cur != nil {
		if err := f.handleTruncation(emit); err != nil {
			return err
		}
		if err := f.readAvailable(f.cur, emit); err != nil {
			return err
		}
	}
	fi, err := os.Stat(f.cfg.Path)
	if errors.Is(err, fs.ErrNotExist) {
		if f.cur == nil && !f.warnedMissing {
			f.log.Warn("log file does not exist yet; waiting for it to appear")
			f.warnedMissing = true
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspecting log %s: %w", f.cfg.Path, err)
	}
	dev, ino, err := devIno(fi)
	if err != nil {
		return err
	}
	if f.cur != nil && dev == f.cur.dev && ino == f.cur.ino {
		return nil // the usual case: lines appended to the followed file
	}
	// Another file is at Path. Every decision from here on is about the file
	// opened, not the one stat'ed: a second rotation can replace it in
	// between, and adopting the newer file would skip the one before it.
	lf, err := openAt(f.cfg.Path, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // gone again between stat and open; the next event brings it back
	}
	if err != nil {
		return err
	}
	if f.cur != nil {
		if lf.dev == f.cur.dev && lf.ino == f.cur.ino {
			lf.Close()
			return nil
		}
		lfi, err := lf.f.Stat()
		if err != nil {
			lf.Close()
			return fmt.Errorf("inspecting log %s: %w", f.cfg.Path, err)
		}
		if lfi.Size() == 0 {
			// Rotated with create, but the writer has not reopened yet (fail2ban
			// writes to the old file until flushlogs): keep reading the old one.
			lf.Close()
			return nil
		}
		// What lf holds now is what it is known by until it is read: the old
		// file and the files in between are read first, and meanwhile lf may
		// be copied (copytruncate) and truncated. A copy of it is then no
		// missed rotation, and its truncation is noticed before its first read.
		if err := lf.pinHead(); err != nil {
			lf.Close()
			return err
		}
		// The writer has moved: whatever it wrote to the old file came first,
		// then whatever it wrote to files rotated away since, then lf.
		if err := f.finish(f.cur, emit); err != nil {
			lf.Close()
			return err
		}
		missed, err := f.missedRotations(lf)
		if err != nil {
			lf.Close()
			return err
		}
		f.closeCur()
		err = f.readMissed(missed, emit)
		if err != nil {
			lf.Close()
			return err
		}
		f.log.Info("log was rotated or re-created; following the new file")
		f.cur = lf
		if err := f.handleTruncation(emit); err != nil {
			return err
		}
		return f.readAvailable(lf, emit)
	}
	if f.warnedMissing {
		f.log.Info("log file appeared")
		f.warnedMissing = false
	}
	f.cur = lf
	return f.readAvailable(lf, emit)
}

// readMissed reads the files missedRotations opened, in order, and closes
// them.
func (f *Follower) readMissed(missed []*logFile, emit func([]Line) error) error {
	defer func() {
		for _, lf := range missed {
			lf.Close()
		}
	}()
	for _, lf := range missed {
		f.log.Warn("log was rotated more than once before it could be read; reading the file in between", "file", lf.name)
		if err := f.finish(lf, emit); err != nil {
			return err
		}
	}
	return nil
}

// handleTruncation notices a copytruncate (the file shrank, or its first
// bytes changed): it reads what logrotate's copy holds beyond the last line
// already read, then starts the followed file again at 0.
func (f *Follower) handleTruncation(emit func([]Line) error) error {
	lf := f.cur
	if lf.gz {
		return nil
	}
	truncated, err := lf.truncated()
	if err != nil || !truncated {
		return err
	}
	f.log.Info("log was truncated (copytruncate); reading it again from the start")
	if err := f.readCopy(lf, emit); err != nil {
		return err
	}
	return lf.rewind()
}

// readCopy finds the copy logrotate made of lf before truncating it (a
// rotated sibling with the same first bytes and at least as long) and reads
// it from lf's last line on, so lines written between our last read and the
// copy are not lost.
func (f *Follower) readCopy(lf *logFile, emit func([]Line) error) error {
	if len(lf.head) == 0 {
		return nil
	}
	rotated, err := Rotated(f.cfg.Path)
	if err != nil {
		return err
	}
	for i := len(rotated) - 1; i >= 0; i-- {
		cp := Checkpoint{File: FileID{Dev: lf.dev, Ino: lf.ino, Head: fingerprintOf(lf.head)}, Offset: lf.off}
		ok, err := cp.matches(rotated[i].Path, false)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		copied, err := openAt(rotated[i].Path, lf.off)
		if err != nil {
			return err
		}
		defer copied.Close()
		return f.finish(copied, emit)
	}
	return nil
}

// missedRotations opens, oldest first, the rotated siblings the writer
// filled after the followed file and before next, the file opened at Path.
// They exist when the log rotates twice between two reads. A sibling is
// recognised by what it is, never by its modification time (a compressor
// that does not keep it makes an old file look new): the followed file is
// found among the siblings by inode or by the fingerprint of its first
// bytes (it may have been compressed), and only the siblings rotated after
// it (newer by name) can have been missed. A sibling whose content this
// follower already read, or that is next itself or a copy of it (a
// copytruncate of next, under way or done: next's lines are read from next,
// or from the copy once next is seen truncated), is never missed.
//
// The files are opened here, before any is read: reading one hands lines on
// and may take long, and a rotation meanwhile renames the others.
func (f *Follower) missedRotations(next *logFile) (missed []*logFile, err error) {
	defer func() {
		if err != nil {
			for _, lf := range missed {
				lf.Close()
			}
			missed = nil
		}
	}()
	rotated, err := Rotated(f.cfg.Path)
	if err != nil {
		return nil, err
	}
	after, err := f.rotatedAfterCur(rotated)
	if err != nil {
		return nil, err
	}
	for _, r := range after {
		head, dev, ino, _, err := readHead(r.Path, headSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return missed, err
		}
		if dev == f.cur.dev && ino == f.cur.ino || f.cur.sameContent(head) {
			continue // the followed file itself, renamed or compressed
		}
		if dev == next.dev && ino == next.ino {
			continue // the file about to be followed, rotated away already: read once, as it
		}
		if len(head) == 0 {
			continue // nothing to read; or a copy of next just created, to be written later
		}
		if next.copiedTo(head) {
			continue // a copy of next (copytruncate), whole or being written
		}
		if f.seen.has(head) {
			continue // read already (a copy of it, compressed with a fresh mtime)
		}
		lf, err := openAt(r.Path, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // rotated away again meanwhile; nothing left to read
		}
		if err != nil {
			return missed, err
		}
		missed = append(missed, lf)
	}
	return missed, nil
}

// copiedTo tells whether head, the first bytes of another file, is a copy
// of lf as far as either goes: one starts with the other, over at least one
// whole line (two logs share the first bytes of a timestamp, never a whole
// line), or the other holds less than a line, which only a copy being
// written does (a rotated log ends with its last line's newline). A copy
// being written may hold fewer bytes than lf's head, and lf more than its
// copy.
func (lf *logFile) copiedTo(head []byte) bool {
	n := min(len(head), len(lf.head))
	if n == 0 || !bytes.Equal(head[:n], lf.head[:n]) {
		return false
	}
	return bytes.IndexByte(lf.head[:n], '\n') >= 0 || bytes.IndexByte(head, '\n') < 0
}

// rotatedAfterCur returns the siblings rotated after the followed file, by
// rotation order. When the followed file is not among them (deleted, moved
// to another directory, or empty so that its content cannot identify it)
// the order is unknown: the siblings modified no earlier than it are
// returned, and the caller skips those whose content was read already.
func (f *Follower) rotatedAfterCur(rotated []RotatedFile) ([]RotatedFile, error) {
	for i := len(rotated) - 1; i >= 0; i-- {
		head, dev, ino, _, err := readHead(rotated[i].Path, headSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if dev == f.cur.dev && ino == f.cur.ino || f.cur.sameContent(head) {
			return rotated[i+1:], nil
		}
	}
	fi, err := f.cur.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("inspecting log %s: %w", f.cur.name, err)
	}
	var after []RotatedFile
	for _, r := range rotated {
		if !r.ModTime.Before(fi.ModTime()) {
			after = append(after, r)
		}
	}
	return after, nil
}

// sameContent tells whether head, the first bytes of another file, starts
// with what lf holds: a copy of lf (compressed, or copied by logrotate). An
// empty lf has no content to recognise.
func (lf *logFile) sameContent(head []byte) bool {
	return len(lf.head) > 0 && len(head) >= len(lf.head) && bytes.Equal(head[:len(lf.head)], lf.head)
}

// seenFiles remembers the first bytes of the last files a Follower read to
// their end, so that a copy of one (a rotated file compressed later) is
// never taken for a file it missed.
type seenFiles struct {
	heads [][]byte // oldest first, at most maxSeen
}

// maxSeen bounds seenFiles: more than logrotate keeps in any usual setup.
const maxSeen = 64

// add remembers lf's content; an empty file has none to recognise.
func (s *seenFiles) add(lf *logFile) {
	if len(lf.head) == 0 {
		return
	}
	if len(s.heads) == maxSeen {
		s.heads = s.heads[1:]
	}
	s.heads = append(s.heads, bytes.Clone(lf.head))
}

// has tells whether head starts with the first bytes of a file read
// already. A file with fewer than headSize bytes read is recognised only by
// a head of exactly its length or longer, as a Checkpoint's Fingerprint is.
func (s *seenFiles) has(head []byte) bool {
	for _, h := range s.heads {
		if len(head) >= len(h) && bytes.Equal(head[:len(h)], h) {
			return true
		}
	}
	return false
}

// finish reads lf to its end and delivers a last line that has no newline:
// nobody will complete it any more.
func (f *Follower) finish(lf *logFile, emit func([]Line) error) error {
	if err := f.readAvailable(lf, emit); err != nil {
		return err
	}
	f.seen.add(lf)
	text, cut, ok := lf.lines.finish()
	if !ok {
		return nil
	}
	f.batch = append(f.batch[:0], Line{Text: text, Truncated: cut, File: lf.id(), Offset: lf.read})
	lf.off = lf.read
	return emit(f.batch)
}

// readAvailable reads lf up to its current end and delivers every complete
// line. It reads readChunk bytes at a time and stops between two reads
// once the Follower's context is done, so a log that never ends (a device,
// a writer faster than we read) cannot hold it.
func (f *Follower) readAvailable(lf *logFile, emit func([]Line) error) error {
	for {
		if err := f.ctx.Err(); err != nil {
			return err
		}
		n, err := lf.r.Read(f.buf)
		if n > 0 {
			if err := f.consume(lf, f.buf[:n], emit); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading log %s: %w", lf.name, err)
		}
	}
}

// consume splits chunk, the next bytes of lf, into lines and emits them.
func (f *Follower) consume(lf *logFile, chunk []byte, emit func([]Line) error) error {
	lf.remember(chunk)
	id, read := lf.id(), lf.read
	f.batch = f.batch[:0]
	lf.lines.feed(chunk, f.cfg.MaxLine+1, func(text []byte, end int, cut bool) {
		f.batch = append(f.batch, Line{Text: text, Truncated: cut, File: id, Offset: read + int64(end)})
	})
	lf.read += int64(len(chunk))
	if len(f.batch) == 0 {
		return nil
	}
	lf.off = f.batch[len(f.batch)-1].Offset
	return emit(f.batch)
}

// appendCapped appends src to dst without letting dst grow beyond limit;
// cut says bytes were dropped.
func appendCapped(dst, src []byte, limit int) (out []byte, cut bool) {
	room := limit - len(dst)
	if room >= len(src) {
		return append(dst, src...), false
	}
	if room < 0 {
		room = 0
	}
	return append(dst, src[:room]...), true
}

// closeCur closes the followed file, if any.
func (f *Follower) closeCur() {
	if f.cur != nil {
		f.cur.Close()
		f.cur = nil
	}
}

// logFile is one open log and how far it has been read.
type logFile struct {
	name     string
	f        *os.File
	r        io.Reader // f, or a gzip reader over it
	gz       bool
	dev, ino uint64
	head     []byte      // the first bytes read, up to headSize
	fp       Fingerprint // of head
	read     int64       // bytes read from the (decompressed) stream
	off      int64       // just after the last complete line delivered
	lines    lineSplitter
}

// openAt opens the log at path positioned at offset (decompressed offset
// for gzip content), which must be at a line boundary.
func openAt(path string, offset int64) (*logFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening log %s: %w", path, err)
	}
	lf, err := positioned(f, offset)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening log %s at %d: %w", path, offset, err)
	}
	return lf, nil
}

// positioned builds the logFile of f and moves it to offset.
func positioned(f *os.File, offset int64) (*logFile, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	dev, ino, err := devIno(fi)
	if err != nil {
		return nil, err
	}
	lf := &logFile{name: f.Name(), f: f, r: f, dev: dev, ino: ino, read: offset, off: offset}
	gz, err := startsWithGzip(f)
	if err != nil {
		return nil, err
	}
	headLen := min(offset, headSize)
	if gz {
		lf.gz = true
		rc, err := decompressing(f)
		if err != nil {
			return nil, err
		}
		lf.r = rc
		lf.head = make([]byte, headLen)
		n, err := io.ReadFull(rc, lf.head)
		lf.head = lf.head[:n]
		skipped := int64(n)
		if err == nil {
			var m int64
			m, err = io.CopyN(io.Discard, rc, offset-headLen)
			skipped += m
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// Shorter than the checkpoint says: it was all read already.
			lf.read, lf.off = skipped, skipped
		} else if err != nil {
			return nil, fmt.Errorf("skipping to the checkpoint: %w", err)
		}
	} else {
		lf.head = make([]byte, headLen)
		if _, err := f.ReadAt(lf.head, 0); err != nil {
			return nil, fmt.Errorf("reading the first bytes: %w", err)
		}
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return nil, err
		}
	}
	lf.fp = fingerprintOf(lf.head)
	return lf, nil
}

// remember keeps the first headSize bytes of the stream as they are read.
// chunk starts at lf.read; head may hold bytes beyond it already (see
// pinHead), which are not taken again.
func (lf *logFile) remember(chunk []byte) {
	have := int64(len(lf.head))
	end := min(lf.read+int64(len(chunk)), headSize)
	if lf.read > have || end <= have {
		return
	}
	lf.head = append(lf.head, chunk[have-lf.read:end-lf.read]...)
	lf.fp = fingerprintOf(lf.head)
}

// pinHead reads the first bytes of a plain file that nothing was read from
// yet, so that it is known by its content before it is read: a copytruncate
// meanwhile then shows as a truncation (see truncated), and a copy of it
// is recognised (see copiedTo).
func (lf *logFile) pinHead() error {
	if lf.gz || lf.read > 0 || len(lf.head) > 0 {
		return nil
	}
	head := make([]byte, headSize)
	n, err := lf.f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading start of log %s: %w", lf.name, err)
	}
	lf.head = head[:n]
	lf.fp = fingerprintOf(lf.head)
	return nil
}

// id is the file's identity as far as it has been read.
func (lf *logFile) id() FileID {
	return FileID{Dev: lf.dev, Ino: lf.ino, Head: lf.fp}
}

// truncated tells whether the file shrank below what was read or its first
// bytes changed: either way it was truncated and written again.
func (lf *logFile) truncated() (bool, error) {
	fi, err := lf.f.Stat()
	if err != nil {
		return false, fmt.Errorf("inspecting log %s: %w", lf.name, err)
	}
	if fi.Size() < lf.read {
		return true, nil
	}
	now := make([]byte, len(lf.head))
	if _, err := lf.f.ReadAt(now, 0); errors.Is(err, io.EOF) {
		return true, nil // it shrank between the Stat and the read
	} else if err != nil {
		return false, fmt.Errorf("reading start of log %s: %w", lf.name, err)
	}
	return !bytes.Equal(now, lf.head), nil
}

// rewind starts the file over at 0 after a truncation; the partial line
// belonged to the old content.
func (lf *logFile) rewind() error {
	if _, err := lf.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewinding log %s: %w", lf.name, err)
	}
	lf.head, lf.fp = lf.head[:0], fingerprintOf(nil)
	lf.read, lf.off = 0, 0
	lf.lines.reset()
	return nil
}

// Close closes the file (and its decompressor).
func (lf *logFile) Close() {
	if c, ok := lf.r.(io.Closer); ok && lf.gz {
		// Closing a gzip reader only checks the stream; the file is what matters.
		_ = c.Close()
		return
	}
	// A read-only file has nothing to flush; a close error changes nothing.
	_ = lf.f.Close()
}
