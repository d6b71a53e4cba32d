package watcher

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/recidivist/recidivist/internal/progress"
)

// ScanFiles runs every line of the files at paths, in the order given,
// through p, calling onOffender for each offender. A file may be plain or
// gzip (recognised by its magic bytes, not its name). Lines are split as
// the daemon splits them (see lineSplitter): lines longer than
// MaxLineLength are passed on cut, so the Parser counts them too long. It
// stops at the first file that cannot be read.
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
	var rep *progress.Reporter
	if opt.Progress != nil {
		var total int64
		for _, path := range paths {
			n, err := logSize(path)
			if err != nil {
				return err
			}
			total += n
		}
		rep = progress.New("scan", total, backfillUnit, *opt.Progress)
		defer rep.Done()
	}
	buf := make([]byte, scanRead)
	for _, path := range paths {
		if err := scanFile(ctx, path, p, onOffender, buf, rep); err != nil {
			return err
		}
	}
	return nil
}

// scanRead is how much of a file scan reads at once: few system calls,
// and small enough that what the kernel copies in is still in the CPU's
// cache when the lines are split (256 KiB measured a little faster than
// 1 MiB and than 64 KiB on one core).
const scanRead = 256 << 10

// scanFile runs the lines of the file at path through p, reading into buf
// and reporting the bytes read (decompressed) to rep unless it is nil.
func scanFile(ctx context.Context, path string, p *Pipeline, onOffender func(Offender), buf []byte, rep *progress.Reporter) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening log %s: %w", path, err)
	}
	defer f.Close()
	r, err := decompressing(f)
	if err != nil {
		return fmt.Errorf("opening log %s: %w", path, err)
	}
	var sp lineSplitter
	// A read of plain text (see plainASCII) spares the Parser checking
	// each of its lines (the first one only when it does not continue a
	// line begun in a read that was not plain) and lets it skim them.
	var plain, plainBefore, first bool
	line := func(text []byte, _ int, _ bool) {
		p.skimLine(text, plain && (!first || plainBefore) && len(text) <= MaxLineLength, onOffender)
		first = false
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := fill(r, buf)
		plainBefore, plain, first = plain, plainASCII(buf[:n]), true
		sp.feedKnown(buf[:n], !plain && bytes.IndexByte(buf[:n], 0) >= 0, MaxLineLength+1, line)
		p.parser.settle() // before buf is read into again
		if rep != nil {
			rep.Add(int64(n))
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading log %s: %w", path, err)
		}
	}
	if text, _, ok := sp.finish(); ok {
		p.skimLine(text, false, onOffender)
	}
	return nil
}

// plainASCII reports whether b holds only ASCII bytes and no NUL: text the
// Parser need not check line by line, far faster checked whole (NUL by
// the vectorised IndexByte, the high bits eight bytes at a time).
func plainASCII(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	var acc uint64
	for len(b) >= 32 {
		acc |= binary.LittleEndian.Uint64(b) | binary.LittleEndian.Uint64(b[8:]) |
			binary.LittleEndian.Uint64(b[16:]) | binary.LittleEndian.Uint64(b[24:])
		b = b[32:]
	}
	for _, c := range b {
		acc |= uint64(c)
	}
	return acc&0x8080808080808080 == 0
}

// fill reads from r until buf is full or r ends (io.EOF) or fails.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
