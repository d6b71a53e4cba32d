package hits

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/nofollow"
)

// header starts every saved Book; v1 is the format below.
const header = "# recidivist hits v1 sampled="

// Save writes b to path atomically (mode 0600): a header line with the time
// of the last sample, then one line per entry:
//
//	PREFIX PACKETS BYTES LAST_HIT IDLE_FROM
//
// the times in Unix seconds, 0 for none.
func Save(path string, b *Book) error {
	err := atomicfile.Write(path, 0o600, func(w io.Writer) error {
		if _, err := fmt.Fprintf(w, "%s%d\n", header, unix(b.Sampled)); err != nil {
			return err
		}
		for p, r := range b.Records {
			if _, err := fmt.Fprintf(w, "%s %d %d %d %d\n", p, r.Packets, r.Bytes, unix(r.LastHit), unix(r.IdleFrom)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("saving the hits of the blocklist: %w", err)
	}
	return nil
}

// Load reads the Book saved at path. A missing file is an empty Book (the
// feature is new, or nothing was sampled yet); a symbolic link is refused.
// An error names the file and the line at fault.
func Load(path string) (*Book, error) {
	f, err := nofollow.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Book{Records: map[netip.Prefix]Record{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the hits of the blocklist: %w", err)
	}
	defer f.Close()
	b := &Book{Records: map[netip.Prefix]Record{}}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		bad := func() error {
			return fmt.Errorf("reading %s:%d: %.60q is not a line of it (delete the file to start counting afresh)", path, n, line)
		}
		if n == 1 {
			s, ok := strings.CutPrefix(line, header)
			t, err := strconv.ParseInt(s, 10, 64)
			if !ok || err != nil {
				return nil, bad()
			}
			b.Sampled = fromUnix(t)
			continue
		}
		f := strings.Fields(line)
		if len(f) != 5 {
			return nil, bad()
		}
		p, err := netip.ParsePrefix(f[0])
		var nums [4]uint64
		for i := range nums {
			if err == nil {
				nums[i], err = strconv.ParseUint(f[i+1], 10, 64)
			}
		}
		if err != nil || nums[2] > 1<<62 || nums[3] > 1<<62 {
			return nil, bad()
		}
		b.Records[p] = Record{Packets: nums[0], Bytes: nums[1], LastHit: fromUnix(int64(nums[2])), IdleFrom: fromUnix(int64(nums[3]))}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, nil
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
