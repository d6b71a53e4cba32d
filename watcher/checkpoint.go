package watcher

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// headSize is how many first bytes of a log its Fingerprint covers: enough
// to hold a few timestamped lines, so two logs never share it.
const headSize = 1024

// Fingerprint is a digest of the first Len bytes of a log (decompressed for
// a .gz), so a file can be recognised after it was renamed, copied or
// compressed by logrotate.
type Fingerprint struct {
	Len    int    `json:"len"`
	SHA256 string `json:"sha256"` // hex
}

// fingerprintOf digests head, which must be at most headSize bytes.
func fingerprintOf(head []byte) Fingerprint {
	sum := sha256.Sum256(head)
	return Fingerprint{Len: len(head), SHA256: hex.EncodeToString(sum[:])}
}

// FileID identifies one log file: its device and inode, and the
// fingerprint of its first bytes as far as they had been read.
type FileID struct {
	Dev  uint64      `json:"dev"`
	Ino  uint64      `json:"ino"`
	Head Fingerprint `json:"head"`
}

// Checkpoint records how far one configured log has been processed: the
// file being read and the offset just after the last line whose effects are
// in the tracker.
type Checkpoint struct {
	Log    string `json:"log"` // the configured path
	File   FileID `json:"file"`
	Offset int64  `json:"offset"`
	// Cursor is where reading the systemd journal resumes (log =
	// "journal"); File and Offset are then unused.
	Cursor string `json:"cursor,omitempty"`
	// LastBan and LastBanLine are the last ban counted from this log: shown
	// by status after a restart, and the limit below which bans are not
	// counted again when the checkpoint matches no file any more.
	LastBan     time.Time `json:"last_ban,omitzero"`
	LastBanLine string    `json:"last_ban_line,omitempty"`
}

// devIno reads the device and inode of fi.
func devIno(fi fs.FileInfo) (dev, ino uint64, err error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("reading inode of %s: %w", fi.Name(), errors.ErrUnsupported)
	}
	return uint64(st.Dev), st.Ino, nil // Dev is not a uint64 on every platform
}

// readHead reads up to n first bytes of the log at path, decompressed when
// it is gzip, with its device, inode and (plain files only, else -1) size.
func readHead(path string, n int) (head []byte, dev, ino uint64, size int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, 0, 0, fmt.Errorf("inspecting log %s: %w", path, err)
	}
	if dev, ino, err = devIno(fi); err != nil {
		return nil, 0, 0, 0, err
	}
	r, err := openLog(path)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	defer r.Close()
	head = make([]byte, n)
	got, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, 0, 0, 0, fmt.Errorf("reading start of log %s: %w", path, err)
	}
	size = fi.Size()
	if gz, err := isGzip(path); err != nil {
		return nil, 0, 0, 0, err
	} else if gz {
		size = -1
	}
	return head[:got], dev, ino, size, nil
}

// matches tells whether the file at path is the one cp points into. A file
// with the same inode must also have the same first bytes (copytruncate
// keeps the inode and replaces the content). A file with another inode
// matches only by a non-empty fingerprint, and only when sameInode is false:
// logrotate's copy and gzip make new inodes of the same content.
func (cp Checkpoint) matches(path string, sameInode bool) (bool, error) {
	head, dev, ino, size, err := readHead(path, cp.File.Head.Len)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if size >= 0 && size < cp.Offset {
		return false, nil
	}
	if len(head) != cp.File.Head.Len || fingerprintOf(head) != cp.File.Head {
		return false, nil
	}
	if dev == cp.File.Dev && ino == cp.File.Ino {
		return true, nil
	}
	return !sameInode && cp.File.Head.Len > 0, nil
}

// planStart decides which files to read, from where, before following the
// log at path, given its checkpoint (nil on first start):
//   - the checkpoint matches the current file: resume it at the offset;
//   - it matches a rotated sibling: finish that one from the offset, then
//     every newer sibling from 0, then the current file from 0;
//   - nothing matches, or there is no checkpoint: backfill every rotated
//     sibling, oldest first, however old, then the current file from 0
//     (fresh is true): bans that are old but within window of each other
//     make an offender, as scan of the same files says.
//
// An empty plan means "the current file from 0".
func planStart(path string, cp *Checkpoint, log *slog.Logger) (plan []Segment, fresh bool, err error) {
	rotated, err := Rotated(path)
	if err != nil {
		return nil, false, err
	}
	if cp != nil {
		// The current file may be a copy of the content (the log setting
		// was changed to it): it is identified by its first bytes.
		ok, err := cp.matches(path, false)
		if err != nil {
			return nil, false, err
		}
		if ok {
			return []Segment{{Path: path, Offset: cp.Offset}}, false, nil
		}
		for i := len(rotated) - 1; i >= 0; i-- {
			ok, err := cp.matches(rotated[i].Path, false)
			if err != nil {
				return nil, false, err
			}
			if !ok {
				continue
			}
			plan = append(plan, Segment{Path: rotated[i].Path, Offset: cp.Offset})
			for _, r := range rotated[i+1:] {
				plan = append(plan, Segment{Path: r.Path})
			}
			log.Info("resuming a rotated log", "log", path, "file", rotated[i].Path, "offset", cp.Offset)
			return plan, false, nil
		}
		log.Warn("checkpoint matches no current or rotated log; reading it as on first start", "log", path)
	}
	for _, r := range rotated {
		plan = append(plan, Segment{Path: r.Path})
	}
	return plan, true, nil
}
