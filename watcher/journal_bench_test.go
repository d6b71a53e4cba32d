package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkStateBytesWrittenPerBan measures what saving the state costs
// while bans arrive with a million addresses tracked: each op is one second
// of a server, some bans then a save (10 bans a second, the busy case, and
// 1). It reports the bytes written per ban (journal records, plus any whole
// state written meanwhile) and, since a short run rarely reaches a
// compaction, the steady state with compactions amortised: the journal
// grows to the size of the state before the state is written whole again,
// so each journal byte costs two in the end.
//
//	go test ./watcher -run '^$' -bench StateBytesWrittenPerBan -benchtime 300x
func BenchmarkStateBytesWrittenPerBan(b *testing.B) {
	const tracked = 1_000_000
	rig := newJournalRig(b, tracked)
	base, err := os.Stat(filepath.Join(rig.cfg.StateDir, StateFile))
	if err != nil {
		b.Fatal(err)
	}
	for _, bansPerSave := range []int{10, 1} {
		b.Run(fmt.Sprintf("%d_bans_per_save", bansPerSave), func(b *testing.B) {
			s := &rig.w.store
			written, appended := s.written, s.appended
			b.ResetTimer()
			for i := range b.N {
				rig.bans(b, bansPerSave, i%4 == 3) // a quarter are repeat offenders
				if err := rig.w.save(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			bans := float64(b.N * bansPerSave)
			journalPerBan := float64(s.appended-appended) / bans
			b.ReportMetric(float64(s.written-written)/bans, "bytes/ban")
			b.ReportMetric(journalPerBan*(1+float64(base.Size())/float64(s.compactAt())), "amortised-bytes/ban")
			b.ReportMetric(float64(base.Size())/1e6, "state-MB")
		})
	}
}
