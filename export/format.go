package export

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/recidivist/recidivist/blocklist"
)

// The formats of ?format=.
const (
	formatPlain    = "plain"    // ADDR[/PREFIX], one a line
	formatMirror   = "mirror"   // the mirror's own lines, comments included
	formatMikroTik = "mikrotik" // a RouterOS script of address-list adds
	formatJSON     = "json"
)

// renderLines writes the body after the header line: one line per entry.
func renderLines(q query, es []blocklist.Entry, now time.Time) []byte {
	var b strings.Builder
	for _, e := range es {
		switch q.format {
		case formatMirror:
			b.WriteString(e.String())
		case formatMikroTik:
			b.WriteString(mikrotikLine(q, e, now))
		default:
			b.WriteString(e.Address())
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// mikrotikLine adds one entry to a RouterOS address list. The list is never
// removed first (that leaves the router with an empty list until the import
// ends); instead every entry carries a timeout, so an entry the export stops
// listing ages out by itself, and an entry already on the list gets its
// timeout renewed by the on-error branch. The timeout is the entry's
// remaining time, at most q.timeout.
func mikrotikLine(q query, e blocklist.Entry, now time.Time) string {
	t := q.timeout
	if !e.Expires.IsZero() {
		t = min(t, e.Expires.Sub(now))
	}
	t = max(t, time.Second)
	menu := "/ip firewall address-list"
	if e.Prefix.Addr().Is6() {
		menu = "/ipv6 firewall address-list"
	}
	a, to := e.Address(), routerOSDuration(t)
	return fmt.Sprintf(`:do { %s add list=%s address=%s timeout=%s } on-error={ %s set [find list=%s address=%s] timeout=%s }`,
		menu, q.list, a, to, menu, q.list, a, to)
}

// routerOSDuration writes d as RouterOS reads a time: "1w2d3h4m5s", whole
// seconds, zero parts left out.
func routerOSDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		unit string
	}{{7 * 86400, "w"}, {86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if s >= u.n {
			fmt.Fprintf(&b, "%d%s", s/u.n, u.unit)
			s %= u.n
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

// renderJSONEntries writes the entries array of format=json: the same
// form as `recidivist list --json`.
func renderJSONEntries(es []blocklist.Entry) ([]byte, error) {
	out := make([]blocklist.JSON, 0, len(es))
	for _, e := range es {
		out = append(out, e.JSON())
	}
	return json.Marshal(out)
}

// header is what the first line of every body says (and format=json's
// fields): when, how many, from where.
type header struct {
	Generated time.Time `json:"generated"`
	Host      string    `json:"host"`
	Family    string    `json:"family"`
	Count     int       `json:"count"`    // entries in this body
	InForce   int       `json:"in_force"` // entries in force in the mirror (of the family)
	Aggregate bool      `json:"aggregate"`
}

func (h header) line(format string) string {
	agg := 0
	if h.Aggregate {
		agg = 1
	}
	return fmt.Sprintf("# recidivist blocklist generated=%s host=%s family=%s format=%s aggregate=%d count=%d in_force=%d\n",
		h.Generated.UTC().Format(time.RFC3339), h.Host, h.Family, format, agg, h.Count, h.InForce)
}

// renderJSON wraps the entries array with the header fields: JSON has no
// comment line, so the header travels as fields of one object.
func renderJSON(h header, entries []byte) ([]byte, error) {
	return json.Marshal(struct {
		header
		Entries json.RawMessage `json:"entries"`
	}{h, entries})
}
