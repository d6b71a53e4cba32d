package watcher

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// opLog records the operations that change a Tracker, in the order they
// happened under its lock, so that the state file's journal can hold what
// changed since the last full history instead of the whole history again:
// replaying them on that history, with the same policy, rebuilds the same
// Tracker. The format, all integers varints (encoding/binary):
//
//	observe: 1, family(4|6), address, at, jail length, jail
//	forgive: 2, family(4|6), address, bits, until
//	expire:  3, asOf
//	floor:   4, at (SetFloor, recorded when it changes)
//
// with times in unix microseconds. A nil *opLog records nothing.
type opLog struct {
	buf []byte
}

// Operation codes of an opLog.
const (
	opObserve byte = 1
	opForgive byte = 2
	opExpire  byte = 3
	opFloor   byte = 4
)

func (l *opLog) observe(addr netip.Addr, at int64, jail string) {
	if l == nil {
		return
	}
	l.buf = appendAddr(append(l.buf, opObserve), addr)
	l.buf = binary.AppendVarint(l.buf, at)
	l.buf = binary.AppendUvarint(l.buf, uint64(len(jail)))
	l.buf = append(l.buf, jail...)
}

func (l *opLog) forgive(p netip.Prefix, until int64) {
	if l == nil {
		return
	}
	l.buf = appendForgiven(append(l.buf, opForgive), p, until)
}

func (l *opLog) expire(asOf int64) {
	if l == nil {
		return
	}
	l.buf = binary.AppendVarint(append(l.buf, opExpire), asOf)
}

func (l *opLog) setFloor(at int64) {
	if l == nil {
		return
	}
	l.buf = binary.AppendVarint(append(l.buf, opFloor), at)
}

// startOps makes t record its operations from now on (see opLog).
func (t *Tracker) startOps() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ops = &opLog{}
}

// takeOps returns the operations recorded since the last takeOps or
// historyTakingOps, and starts a new record.
func (t *Tracker) takeOps() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ops == nil {
		return nil
	}
	ops := t.ops.buf
	t.ops.buf = nil
	return ops
}

// historyTakingOps is WriteTo's content, checksum included, taken together
// with the operations recorded so far, which it drops: they are in it.
func (t *Tracker) historyTakingOps() []byte {
	t.mu.Lock()
	buf := t.appendHistoryLocked(make([]byte, 0, 64+t.historySizeHint()))
	if t.ops != nil {
		t.ops.buf = nil
		if t.floor != math.MaxInt64 { // not in the history: the journal starts with it
			t.ops.setFloor(t.floor)
		}
	}
	t.mu.Unlock()
	return binary.BigEndian.AppendUint32(buf, crcOf(buf))
}

// historySizeHint is about the size of the history, to allocate it once.
func (t *Tracker) historySizeHint() int {
	return 20 * (t.v4.live + t.v6.live)
}

// trackerOp is one decoded operation of an opLog.
type trackerOp struct {
	code byte
	addr netip.Addr
	bits int
	at   int64 // ban time, forgiveness limit, expiry or floor
	jail string
}

// decodeOps reads every operation of buf; anything garbled is an error
// wrapping ErrCorruptHistory, and nothing is applied.
func decodeOps(buf []byte) ([]trackerOp, error) {
	d := decoder{buf: buf}
	var ops []trackerOp
	for len(d.buf) > 0 && d.err == nil {
		op := trackerOp{code: d.byte()}
		switch op.code {
		case opObserve:
			op.addr = d.addr(d.byte())
			op.at = d.varint()
			op.jail = string(d.bytes(int(d.count())))
			if d.err == nil && (!op.addr.IsValid() || op.jail == "") {
				d.fail("observed ban")
			}
		case opForgive:
			op.addr = d.addr(d.byte())
			op.bits = int(d.byte())
			op.at = d.varint()
			if p := netip.PrefixFrom(op.addr, op.bits); d.err == nil && (!p.IsValid() || p != p.Masked()) {
				d.fail("forgiven prefix")
			}
		case opExpire, opFloor:
			op.at = d.varint()
		default:
			d.fail(fmt.Sprintf("operation %d", op.code))
		}
		ops = append(ops, op)
	}
	if d.err != nil {
		return nil, d.err
	}
	return ops, nil
}

// replay applies ops to t as they were applied when recorded.
func (t *Tracker) replay(ops []trackerOp) {
	for _, op := range ops {
		switch op.code {
		case opObserve:
			t.Observe(Ban{Time: utc(op.at), Jail: op.jail, Addr: op.addr})
		case opForgive:
			t.Forgive(netip.PrefixFrom(op.addr, op.bits), time.UnixMicro(op.at))
		case opExpire:
			t.Expire(time.UnixMicro(op.at))
		case opFloor:
			t.SetFloor(time.UnixMicro(op.at))
		}
	}
}
