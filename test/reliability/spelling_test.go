package reliability

import (
	"os"
	"path/filepath"
	"testing"
)

// testSpelling runs the daemon over the same log under three spellings of
// its path (plain, with /./, through a symlink): its bans count once
// (item 3).
func testSpelling(t *testing.T) {
	r := newRig(t, "spell", "--threshold", "3", "--window", "1w")
	r.runFlags = []string{"--reconcile-interval", "5s"}
	pop := newPopulation(8, 300, 300)
	lines := pop.writeAll(t, r.log, 8)
	link := filepath.Join(r.dir, "f2b-link.log")
	if err := os.Symlink(r.log, link); err != nil {
		t.Fatal(err)
	}
	want := pop.want()
	spellings := []string{r.log, r.dir + "/./" + filepath.Base(r.log), link}
	var last verdict
	for _, s := range spellings {
		r.logArg = s
		r.start()
		r.sync()
		last = r.judge(want)
		if !last.ok() {
			t.Errorf("after a start with --log %s: %v", s, last)
		}
		r.stop()
	}
	t.Logf("reliability: spelling: %d spellings of one log (%s lines), %s offenders, %d missed, %d wrong, %d double",
		len(spellings), commas(lines), commas(len(want)), last.missed, last.wrong, last.double)
}
