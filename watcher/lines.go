package watcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// lineSplitter cuts consecutive pieces of a log into lines. It is the one
// splitter of the package: the Follower, scan and EachLine all see the
// same lines.
//
//   - A line ends at "\n" (not delivered) and is cut to limit bytes; a
//     longer one arrives cut, marked so, and is never buffered beyond
//     limit, however long it goes on.
//   - A NUL byte also ends a line: the line is delivered up to and with
//     that NUL (the Parser skips it), and the NUL bytes after it, with one
//     "\n" that may follow them, are dropped. A crash-zeroed block thus
//     costs one skipped line and never swallows the line written after it,
//     and an endless run of NUL bytes costs no memory.
type lineSplitter struct {
	partial []byte // a line begun in an earlier piece, at most the limit
	spare   []byte // the other buffer, see feed
	cut     bool   // partial lost bytes
	inNUL   bool   // dropping the NUL run after a line ended by a NUL
}

// feed splits block, the next bytes of the stream, calling fn for every
// line it completes with end, the index in block just after the line's
// last byte consumed. A line is valid until the next feed but one (the
// Follower emits a whole piece's lines after feed returns).
func (sp *lineSplitter) feed(block []byte, limit int, fn func(line []byte, end int, cut bool)) {
	sp.feedKnown(block, bytes.IndexByte(block, 0) >= 0, limit, fn)
}

// feedKnown is feed for a caller that already knows whether block holds a
// NUL byte (scan checks each read whole, see plainASCII).
func (sp *lineSplitter) feedKnown(block []byte, hasNUL bool, limit int, fn func(line []byte, end int, cut bool)) {
	pos := 0
	if sp.inNUL {
		if pos = sp.dropNULs(block, 0); pos == len(block) {
			return
		}
	}
	for {
		rest := block[pos:]
		i := bytes.IndexByte(rest, '\n')
		byNUL := false
		if hasNUL {
			seg := rest
			if i >= 0 {
				seg = rest[:i]
			}
			if z := bytes.IndexByte(seg, 0); z >= 0 {
				i, byNUL = z, true
			}
		}
		if i < 0 {
			break
		}
		text, next := rest[:i], pos+i+1
		if byNUL {
			text = rest[:i+1]
		}
		if len(sp.partial) > 0 || sp.cut {
			// Only the first line of a piece can continue an earlier one.
			var c bool
			sp.partial, c = appendCapped(sp.partial, text, limit)
			fn(sp.partial, next, sp.cut || c)
			// The line stays valid while the other buffer takes the next
			// partial line.
			sp.partial, sp.spare, sp.cut = sp.spare[:0], sp.partial, false
		} else if len(text) > limit {
			fn(text[:limit], next, true)
		} else {
			fn(text, next, false)
		}
		pos = next
		if byNUL {
			sp.inNUL = true
			if pos = sp.dropNULs(block, pos); pos == len(block) {
				return
			}
		}
	}
	var c bool
	sp.partial, c = appendCapped(sp.partial, block[pos:], limit)
	sp.cut = sp.cut || c
}

// dropNULs skips the NUL bytes of block from pos on and, when the run ends
// there, one "\n" after it; it returns where the next line starts.
func (sp *lineSplitter) dropNULs(block []byte, pos int) int {
	for pos < len(block) && block[pos] == 0 {
		pos++
	}
	if pos < len(block) {
		sp.inNUL = false
		if block[pos] == '\n' {
			pos++
		}
	}
	return pos
}

// finish returns the last line when it has no newline (nobody will
// complete it any more) and forgets it; ok is false when there is none.
func (sp *lineSplitter) finish() (line []byte, cut, ok bool) {
	if len(sp.partial) == 0 && !sp.cut {
		return nil, false, false
	}
	line, cut = sp.partial, sp.cut
	sp.partial, sp.spare, sp.cut = sp.spare[:0], sp.partial, false
	return line, cut, true
}

// reset forgets any line begun, as after a truncation.
func (sp *lineSplitter) reset() {
	sp.partial, sp.cut, sp.inNUL = sp.partial[:0], false, false
}

// EachLine calls fn with every line read from r, split as the daemon and
// scan split a log (lines longer than MaxLineLength arrive cut, so that the
// Parser skips them as too long; see lineSplitter for NUL bytes), until r
// ends or ctx does; it then returns ctx's error. A line is only valid
// during the call.
func EachLine(ctx context.Context, r io.Reader, fn func(line []byte)) error {
	var sp lineSplitter
	buf := make([]byte, readChunk)
	each := func(line []byte, _ int, _ bool) { fn(line) }
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(buf)
		sp.feed(buf[:n], MaxLineLength+1, each)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading: %w", err)
		}
	}
	if line, _, ok := sp.finish(); ok {
		fn(line)
	}
	return nil
}
