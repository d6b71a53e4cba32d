package blocklist_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/blocklist"
)

func TestNetLine_round_trips_its_members_and_holes(t *testing.T) {
	added := at("2026-11-24T13:55:51Z")
	e := blocklist.Entry{
		Prefix: pfx("198.51.100.0/24"), Added: added, Net: true,
		Members: []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.33")},
		Holes:   []netip.Prefix{pfx("198.51.100.9/32")},
	}
	const want = "198.51.100.0/24 # recidivist 2026-11-24T13:55:51Z net members=198.51.100.7,198.51.100.33 holes=198.51.100.9"
	if got := e.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	f := mirrorIn(t, want+"\n")
	got := mustLoad(t, f)
	if len(got) != 1 || !got[0].Net || !reflect.DeepEqual(got[0].Members, e.Members) || !reflect.DeepEqual(got[0].Holes, e.Holes) {
		t.Fatalf("loaded %+v, want the net range with its members and holes", got)
	}
}

func TestTxUpdate_rewrites_a_net_line_with_its_new_members(t *testing.T) {
	f := mirrorIn(t, "203.0.113.1\n198.51.100.0/24 # recidivist 2026-11-24T13:55:51Z net members=198.51.100.7,198.51.100.9,198.51.100.33\n")
	err := f.Exclusive(func(tx *blocklist.Tx) error {
		es, err := tx.Entries()
		if err != nil {
			return err
		}
		r := es[1]
		r.Members = r.Members[1:]
		r.Holes = []netip.Prefix{pfx("198.51.100.7/32")}
		up, err := tx.Update(r)
		if len(up) != 1 {
			t.Errorf("Update found %d lines, want 1", len(up))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	text := readFile(t, f)
	want := "203.0.113.1\n198.51.100.0/24 # recidivist 2026-11-24T13:55:51Z net members=198.51.100.9,198.51.100.33 holes=198.51.100.7\n"
	if text != want {
		t.Errorf("mirror after Update:\n%s\nwant:\n%s", text, want)
	}
	if strings.Count(text, "198.51.100.0/24") != 1 {
		t.Error("the range is written twice")
	}
}
