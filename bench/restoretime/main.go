// Command restoretime times recidivist's restore path on a mirror file:
// load the mirror, then the backend's Replace (ipset: fill scratch sets in
// batches, swap; nftables: rebuild the table in one transaction), then
// check through List that every entry is in the sets. It is
// run by bench/restore.sh inside a fresh network namespace (unshare -n);
// run by hand it changes the sets and rules of the namespace it is in.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/nftstore"
)

func main() {
	mirror := flag.String("mirror", "", "mirror file to restore")
	set := flag.String("set", "recidivist", "set name")
	maxElem := flag.Uint("maxelem", ipsetstore.DefaultMaxElem, "maxelem of each set")
	backend := flag.String("backend", "ipset", "ipset or nftables")
	verify := flag.Bool("verify", true, "list the sets afterwards and check every entry")
	flag.Parse()
	if err := run(*mirror, *set, uint32(*maxElem), *backend, *verify); err != nil {
		fmt.Fprintln(os.Stderr, "restoretime:", err)
		os.Exit(1)
	}
}

// store is what restoretime needs of a backend.
type store interface {
	ipsetstore.Store
	Close() error
}

func run(mirror, set string, maxElem uint32, backend string, verify bool) error {
	cfg := ipsetstore.Config{SetName: set, Chains: []string{"INPUT"}, Target: "DROP", MaxElem: maxElem}
	var s store
	var err error
	if backend == "nftables" {
		s, err = nftstore.New(cfg)
	} else {
		s, err = ipsetstore.New(cfg)
	}
	if err != nil {
		return err
	}
	defer s.Close() //nolint:errcheck // the process ends here

	start := time.Now()
	es, bad, err := blocklist.Open(mirror).Load()
	if err != nil {
		return fmt.Errorf("loading %s: %w", mirror, err)
	}
	if len(bad) > 0 {
		return fmt.Errorf("loading %s: %d bad lines, first: %w", mirror, len(bad), bad[0])
	}
	loaded := time.Now()
	want := make([]ipsetstore.Entry, len(es))
	for i, e := range es {
		want[i] = ipsetstore.Entry{Prefix: e.Prefix, Comment: "recidivist"} // as daemon.KernelEntry writes it
	}
	if _, err := s.Ensure(); err != nil {
		return err
	}
	if err := s.Replace(want, nil); err != nil {
		return err
	}
	restored := time.Now()
	total := restored.Sub(start).Seconds()
	if !verify {
		fmt.Printf("load_s=%.3f replace_s=%.3f total_s=%.3f entries=%d entries_per_s=%.0f verify_s=skipped\n",
			loaded.Sub(start).Seconds(), restored.Sub(loaded).Seconds(), total, len(want), float64(len(want))/total)
		return nil
	}

	got, err := s.List()
	if err != nil {
		return err
	}
	in := make(map[netip.Prefix]bool, len(got))
	for _, e := range got {
		in[e.Prefix] = true
	}
	for _, e := range want {
		if !in[e.Prefix] {
			return fmt.Errorf("verifying: %s is not in the sets after Replace", e.Prefix)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("verifying: the sets hold %d entries, the mirror %d", len(got), len(want))
	}
	verified := time.Now()

	fmt.Printf("load_s=%.3f replace_s=%.3f total_s=%.3f entries=%d entries_per_s=%.0f verify_s=%.3f\n",
		loaded.Sub(start).Seconds(), restored.Sub(loaded).Seconds(), total, len(want), float64(len(want))/total, verified.Sub(restored).Seconds())
	return nil
}
