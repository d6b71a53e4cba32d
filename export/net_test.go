package export

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestANetRangeWithAHoleIsExportedWithoutTheHole(t *testing.T) {
	es := entries("198.51.100.7", "198.51.100.0/24")
	es[1].Added, es[1].Net = now, true
	es[1].Members = []netip.Addr{netip.MustParseAddr("198.51.100.7")}
	es[1].Holes = []netip.Prefix{netip.MustParsePrefix("198.51.100.9/32")}
	h, _ := newTestHandler(fixed(es), Auth{})
	w := get(t, h, "/blocklist?format=plain", nil, "")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	want := "198.51.100.7\n198.51.100.0/29\n198.51.100.8\n198.51.100.10/31\n198.51.100.12/30\n198.51.100.16/28\n198.51.100.32/27\n198.51.100.64/26\n198.51.100.128/25\n"
	if !strings.HasSuffix(body, want) {
		t.Errorf("plain export:\n%s\nwant it to end with the range less its hole:\n%s", body, want)
	}
	if w := get(t, h, "/blocklist?format=mirror", nil, ""); !strings.Contains(w.Body.String(), "198.51.100.0/24 # recidivist") || !strings.Contains(w.Body.String(), "holes=198.51.100.9") {
		t.Errorf("mirror export lost the range's own line:\n%s", w.Body.String())
	}
}
