package privilege

import (
	"os"
	"testing"
)

func TestParseCapEff_reads_the_effective_set_and_finds_CAP_NET_ADMIN(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		netAdmin     bool
		bad          bool
	}{
		{"root holds every capability", "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n", true, false},
		{"a service granted only CAP_NET_ADMIN holds it", "CapPrm:\t0000000000001000\nCapEff:\t0000000000001000\nCapAmb:\t0000000000001000\n", true, false},
		{"a plain user holds none", "CapEff:\t0000000000000000\n", false, false},
		{"other capabilities are not CAP_NET_ADMIN", "CapEff:\t0000000000002fff\n", false, false},
		{"a status without CapEff is an error", "Name:\tx\n", false, true},
		{"a CapEff that is no hex number is an error", "CapEff:\tzz\n", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caps, err := parseCapEff([]byte(tc.status))
			if (err != nil) != tc.bad {
				t.Fatalf("parseCapEff: err %v, want error %v", err, tc.bad)
			}
			if got := HasNetAdmin(caps); got != tc.netAdmin {
				t.Errorf("HasNetAdmin(%#x) = %v, want %v", caps, got, tc.netAdmin)
			}
		})
	}
}

func TestCapEff_reads_the_capability_set_of_this_process(t *testing.T) {
	caps, err := CapEff()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && !HasNetAdmin(caps) {
		t.Errorf("root without CAP_NET_ADMIN in CapEff %x: is this a restricted container?", caps)
	}
}
