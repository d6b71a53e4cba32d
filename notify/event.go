package notify

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The kinds of event.
const (
	KindBlock    = "block"    // an address entered the blocklist
	KindUnblock  = "unblock"  // an address left it
	KindEscalate = "escalate" // net escalation blocked a whole network (Members say who made it)
	KindSummary  = "summary"  // blocks decided while catching up after downtime, folded into one
	KindDigest   = "digest"   // events held back by notify-rate, folded into one
	KindTest     = "test"     // `recidivist notify test`
)

// Reasons of an event.
const (
	ReasonAuto       = "auto"           // an offender found in the log
	ReasonManual     = "manual"         // `recidivist ban` or a line added by hand
	ReasonUnban      = "unban"          // `recidivist unban` or a line deleted by hand
	ReasonExpiry     = "expiry"         // ban-time ran out
	ReasonFleet      = "fleet"          // a record of another host of the fleet
	ReasonEscalation = "escalation"     // net escalation: several offenders of one network
	ReasonCollapse   = "range-collapse" // a net range fell below its threshold and gave way to its members
	ReasonIdle       = "idle"           // idle-unblock: not hit for that long
)

// maxListed bounds the prefixes a summary or digest lists by name.
const maxListed = 100

// Event is one transition of the blocklist, as hooks and webhooks get it.
type Event struct {
	ID      string    `json:"id"`
	Kind    string    `json:"event"`
	Reason  string    `json:"reason,omitempty"`
	Prefix  string    `json:"prefix,omitempty"`
	Jails   []string  `json:"jails,omitempty"`
	Bans    int       `json:"bans,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	Members []string  `json:"members,omitempty"` // an escalate event's offenders
	Time    time.Time `json:"time"`
	Host    string    `json:"host,omitempty"`
	// CatchUp marks a block decided from log lines written while the
	// daemon was stopped: such blocks go out as one summary.
	CatchUp bool `json:"catch_up,omitempty"`
	// Count and Prefixes are a summary's or digest's: how many events it
	// stands for, and the first of their prefixes.
	Count    int      `json:"count,omitempty"`
	Prefixes []string `json:"prefixes,omitempty"`
}

// NewID returns a random event id.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// fold turns evs into one event of kind (summary or digest) that counts
// them and names their most frequent jails and first prefixes.
func fold(kind string, evs []Event, now time.Time, host string) Event {
	out := Event{ID: evs[0].ID + "-" + kind + strconv.Itoa(len(evs)), Kind: kind, Time: now, Host: host, Count: len(evs)}
	jails := map[string]int{}
	for _, e := range evs {
		if len(out.Prefixes) < maxListed && e.Prefix != "" {
			out.Prefixes = append(out.Prefixes, e.Kind+" "+e.Prefix)
		}
		for _, j := range e.Jails {
			jails[j]++
		}
	}
	for j := range jails {
		out.Jails = append(out.Jails, j)
	}
	slices.SortFunc(out.Jails, func(a, b string) int {
		if jails[a] != jails[b] {
			return jails[b] - jails[a]
		}
		return strings.Compare(a, b)
	})
	if len(out.Jails) > 5 {
		out.Jails = out.Jails[:5]
	}
	return out
}

// Text is the one-line human form of e.
func (e Event) Text() string {
	var b strings.Builder
	if e.Host != "" {
		b.WriteString("recidivist@" + e.Host + ": ")
	} else {
		b.WriteString("recidivist: ")
	}
	switch e.Kind {
	case KindSummary:
		fmt.Fprintf(&b, "%d blocks decided while catching up after downtime", e.Count)
	case KindDigest:
		fmt.Fprintf(&b, "%d events held back by notify-rate", e.Count)
	case KindTest:
		b.WriteString("test notification")
	default:
		fmt.Fprintf(&b, "%s %s (%s)", e.Kind, e.Prefix, e.Reason)
	}
	if len(e.Members) > 0 {
		b.WriteString(", members " + strings.Join(e.Members, ","))
	}
	if len(e.Jails) > 0 {
		b.WriteString(", jails " + strings.Join(e.Jails, ","))
	}
	if e.Bans > 0 {
		fmt.Fprintf(&b, ", %d bans", e.Bans)
	}
	if !e.Expires.IsZero() {
		b.WriteString(", expires " + e.Expires.UTC().Format(time.RFC3339))
	}
	if len(e.Prefixes) > 0 {
		b.WriteString(": " + strings.Join(e.Prefixes, ", "))
		if e.Count > len(e.Prefixes) {
			fmt.Fprintf(&b, " and %d more", e.Count-len(e.Prefixes))
		}
	}
	return b.String()
}

// text is the human form of a batch, a line per event.
func text(evs []Event) string {
	lines := make([]string, len(evs))
	for i, e := range evs {
		lines[i] = e.Text()
	}
	return strings.Join(lines, "\n") + "\n"
}

// env is the environment of the hook: always RECIDIVIST_EVENTS (how many
// events stdin holds), and for a single event its fields, so that a hook
// of one line of shell need not parse JSON.
func env(evs []Event) []string {
	out := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "RECIDIVIST_EVENTS=" + strconv.Itoa(len(evs))}
	if len(evs) != 1 {
		return out
	}
	e := evs[0]
	out = append(out,
		"RECIDIVIST_ID="+e.ID,
		"RECIDIVIST_EVENT="+e.Kind,
		"RECIDIVIST_REASON="+e.Reason,
		"RECIDIVIST_PREFIX="+e.Prefix,
		"RECIDIVIST_JAILS="+strings.Join(e.Jails, ","),
		"RECIDIVIST_BANS="+strconv.Itoa(e.Bans),
		"RECIDIVIST_TIME="+e.Time.UTC().Format(time.RFC3339),
		"RECIDIVIST_HOST="+e.Host,
		"RECIDIVIST_TEXT="+e.Text(),
	)
	if e.Count > 0 {
		out = append(out, "RECIDIVIST_COUNT="+strconv.Itoa(e.Count))
	}
	return out
}
