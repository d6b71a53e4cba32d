package watcher

import (
	"hash/maphash"
	"iter"
	"math"
	"slices"
)

// The record of a tracked address, in addrTable words.
const (
	wordHead  = 0 // ban count << 32 | bits of jail ids 0..31; a count of 0 marks a free record
	wordFirst = 1 // first ban, unix microseconds
	wordTimes = 2 // the newest ban times, ascending, noTime in front while fewer are known

	noTime = math.MinInt64

	chunkBits = 10 // records and keys are allocated 1<<chunkBits at a time
	chunkLen  = 1 << chunkBits
)

// addrTable maps the addresses of one family to fixed-size records of int64
// words. A map[netip.Addr]*record costs 200 and more bytes per address; this
// costs a 4-byte slot of an open-addressing index (at most 3/4 full), the
// key, and wordTimes+times words allocated by chunks, so growth wastes
// little: BenchmarkTrackerMemory measures 44 bytes per IPv4 and 56 per
// IPv6 address at threshold 3. The index is hashed with a random seed so
// that chosen addresses cannot pile up in one probe sequence.
type addrTable[K comparable] struct {
	seed       maphash.Seed
	stride     int                 // words per record
	slots      []uint32            // linear probing; 0 is empty, else entry+1
	keys       [][]K               // chunks of chunkLen keys, by entry
	words      [][]int64           // chunks of chunkLen records, by entry
	live       int                 // tracked addresses
	used       uint32              // entries handed out so far, free or not
	free       uint32              // head of the free list as entry+1; a free record's head word links the next
	extraJails map[uint32][]uint32 // jail ids >= 32, sorted, by entry
}

func newAddrTable[K comparable](times int) addrTable[K] {
	return addrTable[K]{seed: maphash.MakeSeed(), stride: wordTimes + times, extraJails: make(map[uint32][]uint32)}
}

func (a *addrTable[K]) home(k K) int {
	return int(maphash.Comparable(a.seed, k) & uint64(len(a.slots)-1))
}

func (a *addrTable[K]) key(e uint32) K {
	return a.keys[e>>chunkBits][e&(chunkLen-1)]
}

func (a *addrTable[K]) record(e uint32) []int64 {
	o := int(e&(chunkLen-1)) * a.stride
	return a.words[e>>chunkBits][o : o+a.stride : o+a.stride]
}

// find returns the entry of k.
func (a *addrTable[K]) find(k K) (uint32, bool) {
	if a.live == 0 {
		return 0, false
	}
	mask := len(a.slots) - 1
	for i := a.home(k); ; i = (i + 1) & mask {
		s := a.slots[i]
		if s == 0 {
			return 0, false
		}
		if a.key(s-1) == k {
			return s - 1, true
		}
	}
}

// add tracks k, which must not be tracked yet, and returns its entry. The
// caller fills the record, starting with a non-zero count.
func (a *addrTable[K]) add(k K) uint32 {
	if (a.live+1)*4 > len(a.slots)*3 {
		a.resize(max(16, 2*len(a.slots)))
	}
	var e uint32
	if a.free != 0 {
		e = a.free - 1
		a.free = uint32(a.record(e)[wordHead])
	} else {
		e = a.used
		if int(e>>chunkBits) == len(a.keys) {
			a.keys = append(a.keys, make([]K, chunkLen))
			a.words = append(a.words, make([]int64, chunkLen*a.stride))
		}
		a.used++
	}
	a.keys[e>>chunkBits][e&(chunkLen-1)] = k
	a.place(k, e)
	a.live++
	return e
}

func (a *addrTable[K]) place(k K, e uint32) {
	mask := len(a.slots) - 1
	i := a.home(k)
	for a.slots[i] != 0 {
		i = (i + 1) & mask
	}
	a.slots[i] = e + 1
}

func (a *addrTable[K]) resize(n int) {
	a.slots = make([]uint32, n)
	for e := range a.entries() {
		a.place(a.key(e), e)
	}
}

// remove stops tracking entry e, closing the gap in its probe sequence by
// moving later entries back (no tombstones to clean up later).
func (a *addrTable[K]) remove(e uint32) {
	mask := len(a.slots) - 1
	i := a.home(a.key(e))
	for a.slots[i] != e+1 {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; a.slots[j] != 0; j = (j + 1) & mask {
		// The entry at j may fill the hole at i unless its home lies after i.
		if h := a.home(a.key(a.slots[j] - 1)); (j-h)&mask >= (j-i)&mask {
			a.slots[i] = a.slots[j]
			i = j
		}
	}
	a.slots[i] = 0
	a.record(e)[wordHead] = int64(a.free)
	a.free = e + 1
	delete(a.extraJails, e)
	a.live--
}

// entries yields the tracked entries; removing the yielded entry is allowed.
func (a *addrTable[K]) entries() iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		for e := range a.used {
			if a.record(e)[wordHead]>>32 != 0 && !yield(e) {
				return
			}
		}
	}
}

func (a *addrTable[K]) addJail(e uint32, id uint32) {
	if id < 32 {
		a.record(e)[wordHead] |= 1 << id
		return
	}
	x := a.extraJails[e]
	if i, found := slices.BinarySearch(x, id); !found {
		a.extraJails[e] = slices.Insert(x, i, id)
	}
}

// compact rebuilds the table once most of its memory is unused, so that
// memory shrinks back after a flood has left the window.
func (a *addrTable[K]) compact() {
	if int(a.used) > 4*a.live+chunkLen || (len(a.slots) > 16 && 8*a.live < len(a.slots)) {
		*a = a.rebuilt(a.stride - wordTimes)
	}
}

// rebuilt returns a compact copy of a whose records hold times ban times:
// the newest ones of a's records, noTime in front when a knew fewer.
func (a *addrTable[K]) rebuilt(times int) addrTable[K] {
	b := newAddrTable[K](times)
	if a.live == 0 {
		return b
	}
	n := 16
	for a.live*4 > n*3 {
		n *= 2
	}
	b.slots = make([]uint32, n)
	for e := range a.entries() {
		f := b.add(a.key(e))
		copyRecord(b.record(f), a.record(e))
		if x := a.extraJails[e]; x != nil {
			b.extraJails[f] = x
		}
	}
	return b
}

func copyRecord(dst, src []int64) {
	copy(dst[:wordTimes], src[:wordTimes])
	dt, st := dst[wordTimes:], src[wordTimes:]
	n := min(len(dt), len(st))
	copy(dt[len(dt)-n:], st[len(st)-n:])
	for i := range len(dt) - n {
		dt[i] = noTime
	}
}
