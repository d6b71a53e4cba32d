package watcher

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net/netip"
	"slices"
)

// The history format, version 1, all integers varints (encoding/binary):
//
//	"RCDVTRK" version(byte)
//	horizon newest                               (unix microseconds)
//	jails:      count, then per jail: length, name
//	forgiven:   count, then per record: family(4|6), address, bits, until
//	tracked:    count, then per address: family(4|6), address, bans, first,
//	            times: count, then each minus first (ascending);
//	            jails: count, then jail indexes (ascending)
//	CRC-32C of everything before, 4 bytes big-endian
//
// The policy is not stored: the configuration in force when the history is
// read decides, as after SetPolicy.
const (
	historyMagic   = "RCDVTRK"
	historyVersion = 1
	maxStoredTimes = 1 << 16 // sanity bound on one record's times
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptHistory is returned by ReadFrom for a truncated or garbled
// history; the Tracker is then left unchanged.
var ErrCorruptHistory = errors.New("tracker history is corrupt")

// ErrHistoryVersion is returned by ReadFrom for a history written in a
// format version this program does not know (a newer recidivist).
var ErrHistoryVersion = errors.New("tracker history has an unknown format version")

// WriteTo writes the tracked addresses, the forgiveness records and the
// horizon to w in a compact, versioned, checksummed binary format that
// ReadFrom reads back. It returns the number of bytes written.
func (t *Tracker) WriteTo(w io.Writer) (int64, error) {
	t.mu.Lock()
	buf := t.appendHistoryLocked(make([]byte, 0, 64+t.historySizeHint()))
	t.mu.Unlock()
	buf = binary.BigEndian.AppendUint32(buf, crcOf(buf))
	n, err := w.Write(buf)
	if err != nil {
		return int64(n), fmt.Errorf("writing tracker history: %w", err)
	}
	return int64(n), nil
}

// crcOf is the checksum of the history format (and of the journal's
// records).
func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// appendHistoryLocked appends the history, without its checksum; t.mu is
// held.
func (t *Tracker) appendHistoryLocked(buf []byte) []byte {
	buf = append(buf, historyMagic...)
	buf = append(buf, historyVersion)
	buf = binary.AppendVarint(buf, t.horizon)
	buf = binary.AppendVarint(buf, t.newest)
	buf = binary.AppendUvarint(buf, uint64(len(t.jails.names)))
	for _, name := range t.jails.names {
		buf = binary.AppendUvarint(buf, uint64(len(name)))
		buf = append(buf, name...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(t.forgiven.addrs)+len(t.forgiven.ranges)))
	for a, until := range t.forgiven.addrs {
		buf = appendForgiven(buf, netip.PrefixFrom(a, a.BitLen()), until)
	}
	for p, until := range t.forgiven.ranges {
		buf = appendForgiven(buf, p, until)
	}
	buf = binary.AppendUvarint(buf, uint64(t.v4.live+t.v6.live))
	buf = appendTracked(buf, &t.v4, netip.AddrFrom4)
	return appendTracked(buf, &t.v6, netip.AddrFrom16)
}

func appendForgiven(buf []byte, p netip.Prefix, until int64) []byte {
	buf = appendAddr(buf, p.Addr())
	buf = append(buf, byte(p.Bits()))
	return binary.AppendVarint(buf, until)
}

// appendAddr appends the family (4 or 6) and the bytes of a.
func appendAddr(buf []byte, a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return append(append(buf, 4), b[:]...)
	}
	b := a.As16()
	return append(append(buf, 6), b[:]...)
}

func appendTracked[K comparable](buf []byte, a *addrTable[K], addrOf func(K) netip.Addr) []byte {
	for e := range a.entries() {
		rec := a.record(e)
		buf = appendAddr(buf, addrOf(a.key(e)))
		buf = binary.AppendUvarint(buf, uint64(rec[wordHead]>>32))
		buf = binary.AppendVarint(buf, rec[wordFirst])
		times := rec[wordTimes:]
		times = times[slices.IndexFunc(times, func(at int64) bool { return at != noTime }):]
		buf = binary.AppendUvarint(buf, uint64(len(times)))
		for _, at := range times {
			buf = binary.AppendUvarint(buf, uint64(at-rec[wordFirst]))
		}
		bits, extra := uint32(rec[wordHead]), a.extraJails[e]
		buf = binary.AppendUvarint(buf, uint64(popcount(bits)+len(extra)))
		for id := range uint32(32) {
			if bits&(1<<id) != 0 {
				buf = binary.AppendUvarint(buf, uint64(id))
			}
		}
		for _, id := range extra {
			buf = binary.AppendUvarint(buf, uint64(id))
		}
	}
	return buf
}

func popcount(bits uint32) int {
	n := 0
	for ; bits != 0; bits &= bits - 1 {
		n++
	}
	return n
}

// ReadFrom replaces the Tracker's contents with the history read from r
// until EOF, keeping the Tracker's policy. A truncated or garbled history is
// an error wrapping ErrCorruptHistory (ErrHistoryVersion for an unknown
// version) and leaves the Tracker unchanged. It returns the bytes read.
func (t *Tracker) ReadFrom(r io.Reader) (int64, error) {
	data, err := io.ReadAll(r)
	n := int64(len(data))
	if err != nil {
		return n, fmt.Errorf("reading tracker history: %w", err)
	}
	t.mu.Lock()
	threshold, window := t.threshold, t.window
	t.mu.Unlock()
	fresh := NewTracker(threshold, 0)
	fresh.window = window
	if err := fresh.decodeHistory(data); err != nil {
		return n, fmt.Errorf("reading tracker history: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.threshold != threshold { // SetPolicy ran meanwhile: honour it
		k := rememberedTimes(t.threshold)
		fresh.v4, fresh.v6 = fresh.v4.rebuilt(k), fresh.v6.rebuilt(k)
	}
	t.v4, t.v6 = fresh.v4, fresh.v6
	t.jails, t.forgiven = fresh.jails, fresh.forgiven
	t.horizon, t.newest = fresh.horizon, fresh.newest
	t.added, t.sweepAt = 0, max(sweepEvery, t.v4.live+t.v6.live)
	return n, nil
}

func (t *Tracker) decodeHistory(data []byte) error {
	header := len(historyMagic) + 1
	if len(data) < header+crc32.Size || string(data[:len(historyMagic)]) != historyMagic {
		return fmt.Errorf("%w: no history header", ErrCorruptHistory)
	}
	if v := data[len(historyMagic)]; v != historyVersion {
		return fmt.Errorf("%w: version %d", ErrHistoryVersion, v)
	}
	body := data[:len(data)-crc32.Size]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(data[len(body):]) {
		return fmt.Errorf("%w: checksum mismatch (truncated or damaged)", ErrCorruptHistory)
	}
	d := decoder{buf: body[header:]}
	t.horizon = d.varint()
	t.newest = d.varint()
	for range d.count() {
		name := string(d.bytes(int(d.count())))
		if _, dup := t.jails.ids[name]; (dup || name == "") && d.err == nil {
			d.err = fmt.Errorf("%w: jail name %q empty or repeated", ErrCorruptHistory, name)
		}
		t.jails.id(name)
	}
	for range d.count() {
		a := d.addr(d.byte())
		p := netip.PrefixFrom(a, int(d.byte()))
		until := d.varint()
		if d.err == nil && (!p.IsValid() || p != p.Masked()) {
			d.err = fmt.Errorf("%w: forgiven prefix %s", ErrCorruptHistory, p)
		}
		t.forgiven.add(p, until)
	}
	for range d.count() {
		if addr := d.addr(d.byte()); addr.Is4() {
			decodeTracked(&d, t, &t.v4, addr.As4(), addr)
		} else if addr.Is6() {
			decodeTracked(&d, t, &t.v6, addr.As16(), addr)
		}
	}
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%w: %d bytes after the last record", ErrCorruptHistory, len(d.buf))
	}
	return d.err
}

// decoder reads history fields from buf; the first problem sticks in err and
// makes every later read return zero values.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s at %d bytes before the end", ErrCorruptHistory, what, len(d.buf))
	}
	d.buf = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("number")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("number")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// count reads a number of items or bytes that follow: it cannot exceed the
// bytes left, which bounds the loops over a garbled count.
func (d *decoder) count() uint64 {
	v := d.uvarint()
	if v > uint64(len(d.buf)) {
		d.fail("count")
		return 0
	}
	return v
}

func (d *decoder) byte() byte {
	if len(d.buf) == 0 {
		d.fail("byte")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) bytes(n int) []byte {
	if n > len(d.buf) {
		d.fail("string")
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) addr(fam byte) netip.Addr {
	switch fam {
	case 4:
		if b := d.bytes(4); b != nil {
			return netip.AddrFrom4([4]byte(b))
		}
	case 6:
		if b := d.bytes(16); b != nil {
			return netip.AddrFrom16([16]byte(b))
		}
	default:
		d.fail("address family")
	}
	return netip.Addr{}
}

// decodeTracked reads the rest of the record of addr (key in a) and tracks
// it, keeping the newest ban times that t's threshold needs.
func decodeTracked[K comparable](d *decoder, t *Tracker, a *addrTable[K], key K, addr netip.Addr) {
	bans, first := d.uvarint(), d.varint()
	n := d.count()
	times := make([]int64, 0, min(n, maxStoredTimes))
	for range min(n, maxStoredTimes) {
		at := first + int64(d.uvarint()&math.MaxInt64)
		if len(times) > 0 && at < times[len(times)-1] || at < first {
			d.fail("ban times (not ascending)")
		}
		times = append(times, at)
	}
	ids := make([]uint32, 0, 1)
	for range d.count() {
		id := d.uvarint()
		if id >= uint64(len(t.jails.names)) || len(ids) > 0 && uint32(id) <= ids[len(ids)-1] {
			d.fail("jail index")
		}
		ids = append(ids, uint32(id))
	}
	if bans == 0 || bans > math.MaxInt32 || n == 0 || n > bans || n > maxStoredTimes || len(ids) == 0 {
		d.fail(fmt.Sprintf("record of %s", addr))
	}
	if _, dup := a.find(key); dup {
		d.fail(fmt.Sprintf("record of %s (repeated)", addr))
	}
	if d.err != nil {
		return
	}
	e := a.add(key)
	rec := a.record(e)
	rec[wordHead] = int64(bans) << 32
	rec[wordFirst] = first
	keep := rec[wordTimes:]
	for i := range keep {
		keep[i] = noTime
	}
	m := min(len(keep), len(times))
	copy(keep[len(keep)-m:], times[len(times)-m:])
	for _, id := range ids {
		a.addJail(e, id)
	}
}
