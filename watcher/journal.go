package watcher

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/fileperm"
	"github.com/recidivist/recidivist/internal/nofollow"
	"github.com/recidivist/recidivist/statedir"
)

// JournalFile is the name, in the state directory, of what changed since
// StateFile was last written whole. Rewriting a history of a million
// addresses every second costs tens of megabytes a second; instead each
// save appends one record (the tracker's operations since the last one,
// and the checkpoints, counts and queue as they are now), and the whole
// state is written again only when the journal grows past the state's size
// (compaction), at the first save of a run, and at a clean shutdown.
//
// The format: one header line naming the generation of the StateFile it
// follows, then records, each
//
//	length (uvarint), payload, CRC-32C of the payload (4 bytes big-endian)
//	payload: meta length (uvarint), meta (savedState as JSON), opLog bytes
//
// A record is written with one write and then synced. A crash in the middle
// of one leaves a torn tail: it fails its length or checksum, and it and
// whatever follows are dropped, so the state is that of the record before,
// whose checkpoints agree with its history: the lines after them are read
// again and counted once. A journal of another generation than StateFile
// (a crash between writing StateFile and starting its journal) was folded
// into StateFile already and is ignored.
const JournalFile = statedir.WatcherJournalFile

// journalHeader starts the journal; %016x is the generation.
const journalHeader = "recidivist watcher journal 1 %016x\n"

// journalHeaderLen is the length of every header.
var journalHeaderLen = len(fmt.Sprintf(journalHeader, 0))

// minCompactAt is the least journal size that triggers a compaction, so
// that a small state is not rewritten at every save.
const minCompactAt = 1 << 20

// journalRead says what readJournal found.
type journalRead struct {
	records int   // replayed
	dropped int64 // bytes of a torn or garbled tail, dropped
	stale   bool  // a journal of another generation, ignored
}

// readJournal replays dir/JournalFile onto st and t, which hold StateFile:
// each complete record's operations go to t, and its checkpoints, counts
// and queue replace st's. A missing journal is no error.
func readJournal(dir string, st *savedState, t *Tracker) (jr journalRead, err error) {
	path := filepath.Join(dir, JournalFile)
	data, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		return jr, nil
	}
	if err != nil {
		return jr, err
	}
	if st.Generation == 0 || !bytes.HasPrefix(data, fmt.Appendf(nil, journalHeader, st.Generation)) {
		jr.stale = true // folded into StateFile already, or written beside an older one
		return jr, nil
	}
	rest := data[journalHeaderLen:]
	logs := st.Stats // of the base: the logs of the run that wrote the journal
	for len(rest) > 0 {
		meta, ops, n, ok := nextRecord(rest)
		if !ok {
			break
		}
		var m journalMeta
		if err := json.Unmarshal(meta, &m); err != nil {
			break
		}
		rec, ok := m.state(logs)
		if !ok {
			break
		}
		decoded, err := decodeOps(ops)
		if err != nil {
			break
		}
		t.replay(decoded)
		st.Saved, st.Checkpoints, st.Pending, st.Stats, st.Mark = rec.Saved, rec.Checkpoints, rec.Pending, rec.Stats, rec.Mark
		jr.records++
		rest = rest[n:]
	}
	jr.dropped = int64(len(rest))
	return jr, nil
}

// nextRecord splits the first record off data: its meta and operations,
// and its length on disk. ok is false for a torn or garbled record.
func nextRecord(data []byte) (meta, ops []byte, n int, ok bool) {
	size, k := binary.Uvarint(data)
	if k <= 0 || size > uint64(len(data)-k) || uint64(len(data)-k)-size < 4 {
		return nil, nil, 0, false
	}
	payload := data[k : k+int(size)]
	if crcOf(payload) != binary.BigEndian.Uint32(data[k+int(size):]) {
		return nil, nil, 0, false
	}
	m, j := binary.Uvarint(payload)
	if j <= 0 || m > uint64(len(payload)-j) {
		return nil, nil, 0, false
	}
	return payload[j : j+int(m)], payload[j+int(m):], k + int(size) + 4, true
}

// appendRecord appends the journal record of st and ops to buf.
func appendRecord(buf []byte, st savedState, ops []byte) ([]byte, error) {
	m, err := metaOf(st)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding checkpoints: %w", err)
	}
	payload := binary.AppendUvarint(make([]byte, 0, 10+len(meta)+len(ops)), uint64(len(meta)))
	payload = append(append(payload, meta...), ops...)
	buf = binary.AppendUvarint(buf, uint64(len(payload)))
	buf = append(buf, payload...)
	return binary.BigEndian.AppendUint32(buf, crcOf(payload)), nil
}

// readPrivate reads a state file, refusing one others can write.
func readPrivate(path string) ([]byte, error) {
	f, err := nofollow.Open(path) // a link could point anywhere: refused, never read
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", path, err)
	}
	if fileperm.WritableByOthers(fi) {
		return nil, fmt.Errorf("reading %s (mode %v): %w; run chmod 600 %s", path, fi.Mode().Perm(), ErrStatePermissions, path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}

// stateStore writes StateFile and its journal. Its methods are called by
// one save at a time.
type stateStore struct {
	dir         string
	journal     *os.File // open to append; nil until a compaction of this run started one
	journalSize int64
	baseSize    int64
	written     int64 // bytes written since the store was made
	appended    int64 // of which journal records
}

// newGeneration returns a random, non-zero generation.
func newGeneration() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("choosing a state generation: %w", err)
		}
		if g := binary.BigEndian.Uint64(b[:]); g != 0 {
			return g, nil
		}
	}
}

// shouldCompact tells whether the next save writes the whole state: no
// journal of this run yet, or one grown past the size of the state it
// follows. Each journal byte then costs two in the end (itself, and its
// share of the next whole state), and a restart replays at most as much
// as it reads anyway.
func (s *stateStore) shouldCompact() bool {
	return s.journal == nil || s.journalSize > s.compactAt()
}

// compactAt is the journal size past which the next save compacts.
func (s *stateStore) compactAt() int64 {
	return max(s.baseSize, minCompactAt)
}

// compact replaces StateFile with base, of generation gen, then starts an
// empty journal of that generation. A crash in between leaves the old
// journal, of another generation: ignored.
func (s *stateStore) compact(base []byte, gen uint64) error {
	s.closeJournal()
	if err := saveState(s.dir, base); err != nil {
		return err
	}
	s.baseSize = int64(len(base))
	s.written += int64(len(base))
	path := filepath.Join(s.dir, JournalFile)
	header := fmt.Appendf(nil, journalHeader, gen)
	if err := atomicfile.WriteFile(path, header, 0o600); err != nil {
		return fmt.Errorf("starting watcher journal: %w", err)
	}
	s.written += int64(len(header))
	f, err := nofollow.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("opening watcher journal: %w", err)
	}
	s.journal, s.journalSize = f, int64(len(header))
	return nil
}

// appendRecord writes rec at the end of the journal and syncs it. After a
// failure the journal is closed: its tail may be torn, and the next save
// compacts.
func (s *stateStore) appendRecord(rec []byte) error {
	n, err := writeRecord(s.journal, rec)
	s.written += int64(n)
	if err == nil {
		err = s.journal.Sync()
	}
	if err != nil {
		s.closeJournal()
		return fmt.Errorf("appending to watcher journal: %w", err)
	}
	s.journalSize += int64(len(rec))
	s.appended += int64(len(rec))
	return nil
}

// writeRecord writes one record to the journal: one write, so that a crash
// tears at most that record. A test replaces it to crash in the middle.
var writeRecord = func(f *os.File, rec []byte) (int, error) { return f.Write(rec) }

// closeJournal stops appending; the next save compacts.
func (s *stateStore) closeJournal() {
	if s.journal != nil {
		// Every record was synced when written; a close error loses nothing.
		_ = s.journal.Close()
		s.journal = nil
	}
}

// isEmptyJournal tells whether the journal holds no record since the last
// compaction.
func (s *stateStore) isEmptyJournal() bool {
	return s.journal != nil && s.journalSize == int64(journalHeaderLen)
}
