package ipsetstore_test

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/recidivist/recidivist/ipsetstore"
)

func TestDiff_changes_list_what_makes_the_sets_equal_the_wanted_entries(t *testing.T) {
	e := func(p string, timeout time.Duration, comment string) ipsetstore.Entry {
		return ipsetstore.Entry{Prefix: netip.MustParsePrefix(p), Timeout: timeout, Comment: comment}
	}
	have := []ipsetstore.Entry{
		e("192.0.2.1/32", 0, "recidivist"),               // kept
		e("192.0.2.2/32", 0, "recidivist"),               // nobody wants it
		e("2001:db8::1/128", time.Hour, "recidivist"),    // timeout within the slack: kept
		e("198.51.100.0/24", time.Hour, "recidivist"),    // wanted permanent: updated
		e("203.0.113.9/32", 0, "someone else"),           // another comment: updated
		e("2001:db8::2/128", 10*time.Hour, "recidivist"), // far from the wanted timeout: updated
	}
	want := []ipsetstore.Entry{
		e("192.0.2.1/32", 0, "recidivist"),
		e("2001:db8::1/128", time.Hour-3*time.Second, "recidivist"),
		e("198.51.100.7/24", 0, "recidivist"), // host bits: masked
		e("203.0.113.9/32", 0, "recidivist"),
		e("2001:db8::2/128", time.Hour, "recidivist"),
		e("10.9.0.0/16", 0, "recidivist"),
		e("10.9.0.0/16", 0, "recidivist"), // twice: added once
	}
	plan, err := ipsetstore.Diff(have, want)
	if err != nil {
		t.Fatal(err)
	}
	got := plan.Changes()
	wantCh := ipsetstore.Changes{
		Add: []ipsetstore.Entry{e("10.9.0.0/16", 0, "recidivist")},
		Del: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/32")},
		Update: []ipsetstore.Entry{
			e("198.51.100.0/24", 0, "recidivist"),
			e("203.0.113.9/32", 0, "recidivist"),
			e("2001:db8::2/128", time.Hour, "recidivist"),
		},
	}
	if !reflect.DeepEqual(got, wantCh) {
		t.Errorf("Diff = %+v\nwant   %+v", got, wantCh)
	}
	if _, err := ipsetstore.Diff(nil, []ipsetstore.Entry{{}}); !errors.Is(err, ipsetstore.ErrBadPrefix) {
		t.Errorf("Diff of an invalid wanted entry = %v, want ErrBadPrefix", err)
	}
	same := []ipsetstore.Entry{e("192.0.2.1/32", 0, "recidivist"), e("2001:db8::/32", time.Hour, "recidivist")}
	if plan, err := ipsetstore.Diff(same, same); err != nil || len(plan.Changes().Add)+len(plan.Changes().Del)+len(plan.Changes().Update) != 0 {
		t.Errorf("Diff of equal sets = %+v, %v; want no change", plan.Changes(), err)
	}
}
