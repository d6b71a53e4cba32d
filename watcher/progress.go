package watcher

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/recidivist/recidivist/internal/progress"
)

// backfillUnit is what the progress of reading logs is counted in: bytes
// of log text (decompressed for a .gz), as Line.Offset counts them.
const backfillUnit = "bytes"

// logSize is the number of bytes of text the log at path holds: its size,
// or for a gzip file the size its trailer records (modulo 4 GiB, which is
// fine for a progress estimate).
func logSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("opening log %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("inspecting log %s: %w", path, err)
	}
	gz, err := startsWithGzip(f)
	if err != nil {
		return 0, fmt.Errorf("reading log %s: %w", path, err)
	}
	if !gz || fi.Size() < 18 { // header and trailer: shorter is no gzip anyway
		return fi.Size(), nil
	}
	var isize [4]byte
	if _, err := f.ReadAt(isize[:], fi.Size()-4); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("reading log %s: %w", path, err)
	}
	return int64(binary.LittleEndian.Uint32(isize[:])), nil
}

// readProgress turns the lines read from a list of files into progress:
// the bytes each batch moved its file's offset on. It is owned by the
// goroutine that reads; the Reporter it feeds is safe for any.
type readProgress struct {
	rep      *progress.Reporter
	dev, ino uint64 // the file the last batch came from
	off      int64  // and where it ended
}

func newReadProgress(what string, total int64, opt progress.Options) *readProgress {
	return &readProgress{rep: progress.New(what, total, backfillUnit, opt)}
}

// advance returns how many bytes the batch ending with last read: from
// the previous batch's end in the same file, or from the file's start.
func (r *readProgress) advance(last Line) int64 {
	var n int64
	if last.File.Dev == r.dev && last.File.Ino == r.ino {
		n = max(last.Offset-r.off, 0)
	} else {
		n = last.Offset
	}
	r.dev, r.ino, r.off = last.File.Dev, last.File.Ino, last.Offset
	return n
}

// backfill reports the progress of a first-start backfill of one log: the
// rotated files of the plan and the current file, up to the size each had
// when the backfill began.
type backfill struct {
	progress *readProgress
	done     int64
	total    int64
	// the current log when the backfill began: reaching its size then
	// ends the backfill even if a rotated file vanished unread meanwhile
	liveDev, liveIno uint64
	liveSize         int64
	// what the last batch added, and whether it ended the backfill; set
	// under the Watcher's mu by read, used by report outside it
	added    int64
	finished bool
}

// startBackfill sizes the files of a fresh plan (see planStart) and the
// current log at path, read after them. Without any byte to read it
// returns nil.
func startBackfill(path string, plan []Segment, opt progress.Options) (*backfill, error) {
	b := &backfill{liveSize: -1}
	for _, seg := range plan {
		n, err := logSize(seg.Path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // rotated away since the plan; the follower skips it too
		}
		if err != nil {
			return nil, err
		}
		b.total += n - seg.Offset
	}
	if fi, err := os.Stat(path); err == nil && (len(plan) == 0 || plan[len(plan)-1].Path != path) {
		dev, ino, err := devIno(fi)
		if err != nil {
			return nil, err
		}
		b.liveDev, b.liveIno, b.liveSize = dev, ino, fi.Size()
		b.total += fi.Size()
	}
	if b.total <= 0 {
		return nil, nil
	}
	b.progress = newReadProgress("backfill of "+path, b.total, opt)
	return b, nil
}

// read counts the batch ending with last and reports whether it ended the
// backfill.
func (b *backfill) read(last Line) bool {
	b.added = b.progress.advance(last)
	b.done += b.added
	b.finished = b.done >= b.total ||
		last.File.Dev == b.liveDev && last.File.Ino == b.liveIno && b.liveSize >= 0 && last.Offset >= b.liveSize
	return b.finished
}

// report hands the last batch to the Reporter, and ends it after the last.
func (b *backfill) report() {
	b.progress.rep.Add(b.added)
	if b.finished {
		b.progress.rep.Done()
	}
}

// endBackfill ends the report of a backfill that Run leaves unfinished.
func (w *Watcher) endBackfill(l *followed) {
	w.mu.Lock()
	b := l.backfill
	l.backfill = nil
	w.mu.Unlock()
	if b != nil {
		b.progress.rep.Done()
	}
}
