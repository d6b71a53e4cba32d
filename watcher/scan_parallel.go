package watcher

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/sync/errgroup"
)

// A big plain log is scanned in chunks parsed in parallel, one Parser each,
// while a single goroutine feeds their bans to the Tracker in file order.
// The decisions and Stats are exactly those of the line-by-line path:
//
//   - A chunk is a run of whole lines (it starts just after a newline), split
//     and cut exactly as the Follower splits them.
//   - A Parser's only state that changes what it returns is the instant of
//     the last timestamped line (for the DST fall-back) and the year it inferred for the last syslog day (see
//     parseState); its zone cache only memoises. Each chunk's Parser is
//     primed with the state the last timestamped line before the chunk
//     gives, and the merger checks that state against the one the previous
//     chunk really ended in. When they differ (a chunk starting in the
//     repeated hour of a fall-back, a syslog day whose year was inferred
//     from an earlier line), the chunk is parsed again from the true state.
//   - Counts are kept per chunk and added in file order; the last ban line
//     is the last of the latest, as Pipeline.Line keeps it.
//
// One thing cannot be made identical: a Parser without ParserConfig.Now
// reads the clock to infer syslog years, and parallel Parsers read it at
// slightly different moments than a sequential one would. The two could
// only disagree on a year-less date lying a day in the future within the
// split second between those reads.

// chunking tunes the parallel scan; tests force tiny chunks.
type chunking struct {
	minSize int64 // files smaller than this are read line by line
	chunk   int64 // bytes per chunk, before moving its end to a line end
	workers int   // parsing goroutines
	ahead   int   // chunks parsed but not yet merged, at most: bounds memory
}

// defaultChunking: chunks of 2 MiB (about 18,000 lines, 1,800 bans) keep
// every core busy from the first milliseconds and hold a few MiB in flight.
func defaultChunking() chunking {
	w := runtime.GOMAXPROCS(0)
	return chunking{minSize: 8 << 20, chunk: 2 << 20, workers: w, ahead: 2*w + 2}
}

// primeWindow is how far back before a chunk its primer looks for a
// timestamped line: more than the longest line the Parser reads.
const primeWindow = MaxLineLength + 2

// parseState is what a Parser carries from one line to the next that can
// change a later line's result.
type parseState struct {
	lastSec  int64
	haveLast bool
	years    yearCache
}

func (p *Parser) state() parseState {
	return parseState{lastSec: p.lastSec, haveLast: p.haveLast, years: p.years}
}

func (p *Parser) setState(s parseState) {
	p.lastSec, p.haveLast, p.years = s.lastSec, s.haveLast, s.years
}

// fork returns a Parser with p's configuration, state and caches and no
// skip counts, for another goroutine.
func (p *Parser) fork() *Parser {
	q := &Parser{loc: p.loc, now: p.now, zone: p.zone, jails: make(map[string]string)}
	q.setState(p.state())
	return q
}

// chunkResult is what parsing one chunk yields: its countable bans in file
// order and its share of the Stats.
type chunkResult struct {
	start, end int64
	initial    parseState // the state the chunk was parsed from
	final      parseState // the state after its last line
	bans       []Ban      // admitted by Pipeline.admit, for the Tracker
	stats      Stats      // counted by Pipeline.admit; Skipped and LastBanLine unused
	lastLine   []byte     // the text of stats.LastBan's line
	skipped    [numSkipReasons]uint64
	err        error
}

// reset empties r for the chunk [start, end) parsed from initial, keeping
// its slices' and map's memory.
func (r *chunkResult) reset(start, end int64, initial parseState) {
	byJail := r.stats.BansByJail
	if byJail == nil {
		byJail = make(map[string]uint64)
	}
	clear(byJail)
	*r = chunkResult{start: start, end: end, initial: initial, bans: r.bans[:0], stats: Stats{BansByJail: byJail}, lastLine: r.lastLine[:0]}
}

// scanPath scans one file, in parallel when it is plain and big enough,
// reporting the bytes read to rep unless it is nil.
func scanPath(ctx context.Context, path string, p *Pipeline, onOffender func(Offender), c chunking, rep *readProgress) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening log %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("inspecting log %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() < c.minSize || fi.Size() == 0 {
		return scanFile(ctx, path, p, onOffender, rep)
	}
	gz, err := startsWithGzip(f)
	if err != nil {
		return fmt.Errorf("reading log %s: %w", path, err)
	}
	if gz {
		return scanFile(ctx, path, p, onOffender, rep)
	}
	// How many chunks were parsed twice only matters to the tests, which
	// prove that priming makes it rare.
	if _, err := scanParallel(ctx, f, fi.Size(), p, onOffender, c, rep); err != nil {
		return fmt.Errorf("scanning %s: %w", path, err)
	}
	return nil
}

// scanParallel scans the first size bytes of r through p and returns how
// many chunks it had to parse again because their primed state was wrong.
func scanParallel(parent context.Context, r io.ReaderAt, size int64, p *Pipeline, onOffender func(Offender), c chunking, rep *readProgress) (reparsed int, err error) {
	bounds, err := chunkBounds(parent, r, size, c.chunk)
	if err != nil {
		return 0, err
	}
	n := len(bounds) - 1
	base := p.parser.fork() // the state at the start of the file
	results := make([]chan *chunkResult, n)
	for k := range results {
		results[k] = make(chan *chunkResult, 1)
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan int)
	tokens := make(chan struct{}, max(c.ahead, 1))
	spare := make(chan *chunkResult, max(c.ahead, 1)+max(c.workers, 1))
	g.Go(func() error {
		defer close(jobs)
		for k := range n {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			select {
			case jobs <- k:
			case <-ctx.Done():
				return nil
			}
		}
		return nil
	})
	for range max(c.workers, 1) {
		g.Go(func() error {
			buf := make([]byte, min(c.chunk+primeWindow, size))
			for k := range jobs {
				var res *chunkResult
				select {
				case res = <-spare:
				default:
					res = &chunkResult{}
				}
				parseChunk(ctx, r, bounds[k], bounds[k+1], base, p, buf, res)
				err := res.err // res belongs to the merger once sent
				results[k] <- res
				if err != nil {
					return err
				}
			}
			return nil
		})
	}

	mergeErr := func() error {
		state := base.state()
		for k := range n {
			var res *chunkResult
			select {
			case res = <-results[k]:
			case <-ctx.Done():
				return nil // a worker failed: g.Wait says why
			}
			if res.err != nil {
				return nil
			}
			if res.initial != state {
				// The primer guessed wrong: parse the chunk again from the
				// state the previous chunk really ended in.
				q := base.fork()
				q.setState(state)
				start, end := res.start, res.end
				res = &chunkResult{}
				parseChunkFrom(ctx, r, start, end, q, p, nil, res)
				reparsed++
				if res.err != nil {
					return res.err
				}
			}
			p.addChunk(res, onOffender)
			if rep != nil {
				rep.rep.Add(res.end - res.start)
			}
			state = res.final
			select {
			case spare <- res: // its slices and map serve a later chunk
			default:
			}
			<-tokens
		}
		p.parser.setState(state)
		return nil
	}()
	cancel()
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return reparsed, err
	}
	if err := parent.Err(); err != nil {
		return reparsed, err // stopped: what was merged is not the whole file
	}
	return reparsed, mergeErr
}

// chunkBounds splits [0, size) into chunks of about chunk bytes that each
// start just after a newline: bounds[k] is where chunk k starts, the last
// element is size. A line longer than chunk makes its chunk longer.
func chunkBounds(ctx context.Context, r io.ReaderAt, size, chunk int64) ([]int64, error) {
	chunk = max(chunk, 1)
	bounds := []int64{0}
	buf := make([]byte, 4096)
	for next := chunk; next < size; next += chunk {
		at := max(next, bounds[len(bounds)-1]+1)
		if at >= size {
			break
		}
		// The chunk ends just after the first newline at or after at-1.
		end, err := nextLineStart(ctx, r, at-1, size, buf)
		if err != nil {
			return nil, err
		}
		if end >= size {
			break
		}
		bounds = append(bounds, end)
		next = max(next, end-chunk) // never fall behind a long line's end
	}
	return append(bounds, size), nil
}

// nextLineStart returns the offset just after the first newline at or after
// from, or size if there is none.
func nextLineStart(ctx context.Context, r io.ReaderAt, from, size int64, buf []byte) (int64, error) {
	for off := from; off < size; {
		if err := ctx.Err(); err != nil {
			return 0, err // a huge file without a newline takes a while
		}
		n := min(int64(len(buf)), size-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			return 0, fmt.Errorf("reading at %d: %w", off, err)
		}
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i) + 1, nil
		}
		off += n
	}
	return size, nil
}

// parseChunk primes a Parser forked from base for the chunk [start, end)
// and parses the chunk with it.
func parseChunk(ctx context.Context, r io.ReaderAt, start, end int64, base *Parser, p *Pipeline, buf []byte, res *chunkResult) {
	q := base.fork()
	if start > 0 {
		s, err := primedState(r, start, base, buf)
		if err != nil {
			res.reset(start, end, parseState{})
			res.err = err
			return
		}
		q.setState(s)
	}
	parseChunkFrom(ctx, r, start, end, q, p, buf, res)
}

// primedState guesses the Parser state at start, which must follow a
// newline: the state after the last line before start that a Parser takes
// a timestamp from, parsed alone. It looks a few KiB back, then up to
// primeWindow; without such a line it returns base's state.
func primedState(r io.ReaderAt, start int64, base *Parser, buf []byte) (parseState, error) {
	for _, back := range []int64{4 << 10, primeWindow} {
		from := max(0, start-back)
		win := buf[:start-from]
		if _, err := r.ReadAt(win, from); err != nil {
			return parseState{}, fmt.Errorf("reading at %d: %w", from, err)
		}
		if s, ok := lastStamped(win[:len(win)-1], from == 0, base); ok {
			return s, nil
		}
		if from == 0 {
			break
		}
	}
	return base.state(), nil
}

// lastStamped parses the lines of win (newline-separated; the first one is
// cut unless whole) from the last backwards until one sets the Parser's
// last timestamp, and returns the state that line leaves.
func lastStamped(win []byte, whole bool, base *Parser) (parseState, bool) {
	primer := base.fork()
	for {
		i := bytes.LastIndexByte(win, '\n')
		if i < 0 && !whole {
			return parseState{}, false // the line may begin before win
		}
		primer.haveLast = false
		line := win[i+1:]
		if z := bytes.LastIndexByte(line, 0); z >= 0 {
			line = line[z+1:] // a NUL ends a line too (see lineSplitter)
		}
		primer.Parse(line)
		if primer.haveLast {
			return primer.state(), true
		}
		if i < 0 {
			return parseState{}, false
		}
		win = win[:i]
	}
}

// parseChunkFrom parses the lines of [start, end) with q and decides and
// counts them as Pipeline.Line does, without the Tracker. buf, when big
// enough, holds the whole chunk; otherwise the chunk is read in pieces.
func parseChunkFrom(ctx context.Context, r io.ReaderAt, start, end int64, q *Parser, p *Pipeline, buf []byte, res *chunkResult) {
	res.reset(start, end, q.state())
	if int64(len(buf)) < min(end-start, 1<<20) {
		buf = make([]byte, min(end-start, 1<<20))
	}
	res.err = eachLine(ctx, r, start, end, buf, func(line []byte, plain bool) {
		var ban Ban
		var verdict Verdict
		if plain && len(line) <= MaxLineLength {
			ban, verdict = q.parseText(line)
		} else {
			ban, verdict = q.Parse(line)
		}
		if p.admit(&res.stats, &res.lastLine, line, ban, verdict) {
			res.bans = append(res.bans, ban)
		}
	})
	res.final = q.state()
	for i := range res.skipped {
		res.skipped[i] = q.skipped[i].Load()
	}
}

// eachLine calls fn with every line of [start, end) of r, reading it in
// pieces of len(buf) bytes, until ctx ends. A line is only valid during the
// call.
func eachLine(ctx context.Context, r io.ReaderAt, start, end int64, buf []byte, fn func(line []byte, plain bool)) error {
	var sp lineSplitter
	for off := start; off < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(int64(len(buf)), end-off)
		block := buf[:n]
		if _, err := r.ReadAt(block, off); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the file shrank while it was read
			}
			return fmt.Errorf("reading at %d: %w", off, err)
		}
		off += n
		// A piece is checked at once, far faster than line by line: fn's
		// plain says the line holds only ASCII other than NUL, so the
		// Parser need not check it. A line carried over from the piece
		// before is not known to be.
		plain, carried, first := plainASCII(block), len(sp.partial) > 0 || sp.cut, true
		sp.feed(block, MaxLineLength+1, func(line []byte, _ int, _ bool) {
			fn(line, plain && !(first && carried))
			first = false
		})
	}
	if line, _, ok := sp.finish(); ok {
		fn(line, false)
	}
	return nil
}

// plainASCII reports whether b holds only ASCII bytes and no NUL.
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

// addChunk counts a chunk as Line would have counted its lines one by one
// and feeds its bans to the Tracker, reporting offenders in file order.
func (p *Pipeline) addChunk(c *chunkResult, onOffender func(Offender)) {
	p.stats.Lines += c.stats.Lines
	p.stats.Filtered += c.stats.Filtered
	p.stats.Recounted += c.stats.Recounted
	p.stats.Bans += c.stats.Bans
	for j, n := range c.stats.BansByJail {
		p.stats.BansByJail[j] += n
	}
	for r, n := range c.skipped {
		if n > 0 {
			p.parser.skipped[r].Add(n)
		}
	}
	if c.stats.Bans > 0 && !c.stats.LastBan.Before(p.stats.LastBan) {
		p.stats.LastBan = c.stats.LastBan
		p.lastLine = append(p.lastLine[:0], c.lastLine...)
	}
	for _, b := range c.bans {
		if o, ok := p.tracker.Observe(b); ok {
			onOffender(o)
		}
	}
}
