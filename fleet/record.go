package fleet

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// State is what a record says about its address.
type State string

// The states of a record.
const (
	Block State = "block"
	Unban State = "unban" // a tombstone: forgiven at Version, older bans never count again
)

// Record is one entry of the shared blocklist, versioned for
// last-writer-wins. An automatic block takes the log time of the deciding
// ban as its version, so it is the same whichever host triggered it; manual
// bans, unbans and hand edits take the wall clock of the command.
type Record struct {
	Prefix  netip.Prefix // canonical: masked, IPv4-mapped addresses unmapped
	State   State
	Version time.Time // millisecond precision
	Host    string    // the host that wrote it
	Expires time.Time // zero = permanent
	Jails   []string
	Bans    int
	Origin  string // "fleet" (ban_event), "log", "manual", "edit"
}

// Wins reports whether r replaces cur under last-writer-wins: the newer
// version wins; at equal versions an unban beats a block; then the greater
// host name. A record never wins against itself, so a replay is a no-op.
// The scripts implement the same order; the conformance tests hold them to it.
func (r Record) Wins(cur Record) bool {
	if v, c := r.Version.UnixMilli(), cur.Version.UnixMilli(); v != c {
		return v > c
	}
	if r.State != cur.State {
		return r.State == Unban
	}
	return r.Host > cur.Host
}

// Field is the record's key in the bl hash: the address alone for a single
// address, else the prefix.
func Field(p netip.Prefix) string {
	p = Canonical(p)
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// Canonical masks p and unmaps an IPv4-mapped address.
func Canonical(p netip.Prefix) netip.Prefix {
	a, bits := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// wire is the JSON form stored in Redis: {s,v,h,x,j,n,o}, times in ms.
type wire struct {
	S State  `json:"s"`
	V int64  `json:"v"`
	H string `json:"h"`
	X int64  `json:"x"`
	J string `json:"j"`
	N int    `json:"n"`
	O string `json:"o"`
}

// encode returns the stored form of r.
func (r Record) encode() string {
	w := wire{S: r.State, V: r.Version.UnixMilli(), H: r.Host, J: strings.Join(r.Jails, ","), N: r.Bans, O: r.Origin}
	if !r.Expires.IsZero() {
		w.X = r.Expires.UnixMilli()
	}
	b, err := json.Marshal(w)
	if err != nil {
		panic(err) // strings and numbers only: cannot fail
	}
	return string(b)
}

// decodeRecord reads the stored form of the record of field.
func decodeRecord(field, s string) (Record, error) {
	p, err := parseField(field)
	if err != nil {
		return Record{}, err
	}
	var w wire
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return Record{}, fmt.Errorf("decoding record of %s: %w", field, err)
	}
	if w.S != Block && w.S != Unban {
		return Record{}, fmt.Errorf("decoding record of %s: state %q is neither block nor unban", field, w.S)
	}
	r := Record{Prefix: p, State: w.S, Version: time.UnixMilli(w.V).UTC(), Host: w.H, Bans: w.N, Origin: w.O}
	if w.X != 0 {
		r.Expires = time.UnixMilli(w.X).UTC()
	}
	if w.J != "" {
		r.Jails = strings.Split(w.J, ",")
	}
	return r, nil
}

func parseField(field string) (netip.Prefix, error) {
	if strings.Contains(field, "/") {
		p, err := netip.ParsePrefix(field)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("decoding record key %q: %w", field, err)
		}
		return Canonical(p), nil
	}
	a, err := netip.ParseAddr(field)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("decoding record key %q: %w", field, err)
	}
	return Canonical(netip.PrefixFrom(a, a.BitLen())), nil
}
