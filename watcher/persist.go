package watcher

import (
	"bytes"
	"fmt"
	"slices"
)

// persist saves the state if it changed: one journal record, or the whole
// state when the journal is due for compaction, after a reload, and when
// final (a clean shutdown, which also folds a journal that holds records).
// The snapshot is taken under mu, so checkpoints and history agree; the
// write happens outside it. While a batch waits for the callback (its lines
// counted, its checkpoint not moved) nothing is saved; after a run gave one
// up, nothing more is. Config.Durable is called between the snapshot and
// the write. A failed write (or Durable) makes the next save write the
// whole state again, so nothing taken from the tracker is lost.
func (w *Watcher) persist(final bool) error {
	w.saving.Lock()
	defer w.saving.Unlock()
	s := &w.store
	w.mu.Lock()
	if w.handing > 0 || w.abandoned || !w.dirty && !(final && s.journal != nil && !s.isEmptyJournal()) {
		w.mu.Unlock()
		return nil
	}
	st := w.snapshotLocked()
	compact := final || w.compact || s.shouldCompact()
	var (
		data []byte
		gen  uint64
		err  error
	)
	if compact {
		gen, err = newGeneration()
		if err == nil {
			st.Retired, st.Generation = slices.Clone(w.retired), gen
			var buf bytes.Buffer
			err = encodeState(&buf, st, w.tracker.historyTakingOps())
			data = buf.Bytes()
		}
	} else {
		data, err = appendRecord(nil, st, w.tracker.takeOps())
	}
	w.dirty, w.compact = false, false
	durable := w.cfg.Durable
	w.mu.Unlock()
	if err == nil && durable != nil {
		// Every offender the snapshot's checkpoints cover is on disk first.
		if derr := durable(); derr != nil {
			err = fmt.Errorf("offenders not recorded yet: %w", derr)
		}
	}
	if err == nil {
		if compact {
			err = s.compact(data, gen)
		} else {
			err = s.appendRecord(data)
		}
	}
	if err != nil {
		w.mu.Lock()
		w.dirty, w.compact = true, true
		w.mu.Unlock()
		return fmt.Errorf("saving watcher state: %w", err)
	}
	return nil
}
