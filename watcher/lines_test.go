package watcher

import (
	"bytes"
	"fmt"
	"testing"
)

// splitOracle splits data byte by byte as lineSplitter promises to: a line
// ends at "\n" or with a NUL (kept), the NUL run after such a NUL and one
// "\n" after the run are dropped, a line is cut to limit bytes, and a last
// line without an end is delivered too.
func splitOracle(data []byte, limit int) []string {
	var out []string
	var cur []byte
	cut, inNUL := false, false
	emit := func() {
		out = append(out, fmt.Sprintf("%q cut=%v", cur, cut))
		cur, cut = nil, false
	}
	add := func(b byte) {
		if len(cur) < limit {
			cur = append(cur, b)
		} else {
			cut = true
		}
	}
	for _, b := range data {
		if inNUL {
			if b == 0 {
				continue
			}
			inNUL = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			emit()
		case 0:
			add(0)
			emit()
			inNUL = true
		default:
			add(b)
		}
	}
	if len(cur) > 0 || cut {
		emit()
	}
	return out
}

// splitPieces feeds data to a lineSplitter in pieces cut at the given
// points and returns the lines with their ends as offsets into data.
func splitPieces(data []byte, limit int, cuts []int) (lines []string, ends []int) {
	var sp lineSplitter
	start := 0
	for _, c := range append(cuts, len(data)) {
		c = min(max(c, start), len(data))
		piece := data[start:c]
		base := start
		sp.feed(piece, limit, func(line []byte, end int, cut bool) {
			lines = append(lines, fmt.Sprintf("%q cut=%v", line, cut))
			ends = append(ends, base+end)
		})
		start = c
	}
	if line, cut, ok := sp.finish(); ok {
		lines = append(lines, fmt.Sprintf("%q cut=%v", line, cut))
		ends = append(ends, len(data))
	}
	return lines, ends
}

func FuzzLineSplitter(f *testing.F) {
	f.Add([]byte("a\nbb\n"), uint8(8), uint16(1), uint16(3))
	f.Add([]byte("frag\x00\x00\x00line\n\x00\x00\nx"), uint8(4), uint16(5), uint16(6))
	f.Add([]byte("0123456789abcdef\n\x00"), uint8(4), uint16(2), uint16(17))
	f.Add(bytes.Repeat([]byte{0}, 40), uint8(3), uint16(10), uint16(20))
	f.Fuzz(func(t *testing.T, data []byte, limit uint8, c1, c2 uint16) {
		lim := int(limit%16) + 1
		want := splitOracle(data, lim)
		got, ends := splitPieces(data, lim, []int{int(c1) % (len(data) + 1), int(c2) % (len(data) + 1)})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("split %q (limit %d, cut at %d, %d):\n got %v\nwant %v", data, lim, c1, c2, got, want)
		}
		for i := 1; i < len(ends); i++ {
			if ends[i] <= ends[i-1] || ends[i] > len(data) {
				t.Fatalf("line ends %v of %q are not increasing within the data", ends, data)
			}
		}
	})
}

func TestLineSplitter_keeps_a_line_carried_over_valid_until_the_next_piece_is_split(t *testing.T) {
	// The Follower emits a piece's lines after feed returns: the line that
	// continued the previous piece must not be overwritten by the start of
	// the next line, which feed keeps for later.
	var sp lineSplitter
	var held [][]byte
	keep := func(line []byte, _ int, _ bool) { held = append(held, line) }
	sp.feed([]byte("first half "), 64, keep)
	sp.feed([]byte("second half\nNEXT LINE BEGINS"), 64, keep)
	if len(held) != 1 || string(held[0]) != "first half second half" {
		t.Fatalf("lines %q, want the joined first line", held)
	}
	sp.feed([]byte(" AND ENDS\n"), 64, keep)
	if string(held[0]) != "first half second half" || string(held[1]) != "NEXT LINE BEGINS AND ENDS" {
		t.Errorf("lines %q: the first was overwritten", held)
	}
}
