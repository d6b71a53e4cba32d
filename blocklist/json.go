package blocklist

import "time"

// JSON is the stable JSON form of an entry, the one `recidivist list --json`
// and the export's format=json print.
type JSON struct {
	Address string     `json:"address"` // a single address without its /32 or /128
	Added   *time.Time `json:"added,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
	Jails   []string   `json:"jails,omitempty"`
	Bans    int        `json:"bans,omitempty"`
	Manual  bool       `json:"manual"`
	Net     bool       `json:"net,omitempty"`     // a range net escalation made
	Members []string   `json:"members,omitempty"` // its offenders
	Holes   []string   `json:"holes,omitempty"`   // addresses unbanned inside it
	Comment string     `json:"comment,omitempty"` // the free text (Note)
}

// JSON returns e's JSON form.
func (e Entry) JSON() JSON {
	j := JSON{Address: e.Address(), Jails: e.Jails, Bans: e.Bans, Manual: e.Manual, Comment: e.Note()}
	j.Net = e.Net
	for _, m := range e.Members {
		j.Members = append(j.Members, m.String())
	}
	for _, h := range e.Holes {
		j.Holes = append(j.Holes, formatPrefix(h))
	}
	if !e.Added.IsZero() {
		t := e.Added
		j.Added = &t
	}
	if !e.Expires.IsZero() {
		t := e.Expires
		j.Expires = &t
	}
	return j
}

// Address is the entry's prefix as recidivist writes it: a single address
// without its /32 or /128.
func (e Entry) Address() string { return formatPrefix(e.Prefix) }
