package watcher

import (
	"encoding/hex"
	"fmt"
	"time"
)

// journalMeta is the part of a journal record beside the tracker's
// operations: the checkpoints, counts and queue, written every second while
// bans arrive, so it is kept small. Logs are named by their index in the
// counts of the state the journal follows (one entry per configured log, in
// order: a journal never outlives the run that wrote its base); a
// checkpoint's last ban is the one of its log's counts.
type journalMeta struct {
	Saved       time.Time           `json:"s"`
	Checkpoints []journalCheckpoint `json:"c,omitempty"`
	Stats       []savedStats        `json:"t"` // Log left empty
	Pending     []Offender          `json:"p,omitempty"`
	Mark        uint64              `json:"m,omitempty"`
}

// journalCheckpoint is a Checkpoint in a journal record.
type journalCheckpoint struct {
	Log     int    `json:"l"` // index in Stats
	Dev     uint64 `json:"d"`
	Ino     uint64 `json:"i"`
	HeadLen int    `json:"n"`
	Head    []byte `json:"h"` // SHA-256 of the first HeadLen bytes
	Offset  int64  `json:"o"`
}

// metaOf is st as a journal record holds it.
func metaOf(st savedState) (journalMeta, error) {
	m := journalMeta{Saved: st.Saved, Pending: st.Pending, Mark: st.Mark, Stats: make([]savedStats, len(st.Stats))}
	index := make(map[string]int, len(st.Stats))
	for i, ss := range st.Stats {
		index[ss.Log] = i
		ss.Log = ""
		m.Stats[i] = ss
	}
	for _, cp := range st.Checkpoints {
		i, ok := index[cp.Log]
		if !ok {
			return m, fmt.Errorf("journal record: checkpoint of %s has no counts", cp.Log)
		}
		head, err := hex.DecodeString(cp.File.Head.SHA256)
		if err != nil {
			return m, fmt.Errorf("journal record: fingerprint of %s: %w", cp.Log, err)
		}
		m.Checkpoints = append(m.Checkpoints, journalCheckpoint{Log: i, Dev: cp.File.Dev, Ino: cp.File.Ino,
			HeadLen: cp.File.Head.Len, Head: head, Offset: cp.Offset})
	}
	return m, nil
}

// state is m with the logs named as in logs, the counts of the state the
// journal follows; ok is false when m does not fit them.
func (m journalMeta) state(logs []savedStats) (st savedState, ok bool) {
	if len(m.Stats) != len(logs) {
		return st, false
	}
	st = savedState{Saved: m.Saved, Pending: m.Pending, Mark: m.Mark, Stats: m.Stats}
	for i := range st.Stats {
		st.Stats[i].Log = logs[i].Log
	}
	for _, jc := range m.Checkpoints {
		if jc.Log < 0 || jc.Log >= len(logs) {
			return st, false
		}
		ss := st.Stats[jc.Log]
		st.Checkpoints = append(st.Checkpoints, Checkpoint{Log: ss.Log,
			File:   FileID{Dev: jc.Dev, Ino: jc.Ino, Head: Fingerprint{Len: jc.HeadLen, SHA256: hex.EncodeToString(jc.Head)}},
			Offset: jc.Offset, LastBan: ss.LastBan, LastBanLine: ss.LastBanLine})
	}
	return st, true
}
