package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestScan_reads_rotated_logs_oldest_first_whatever_the_order_given(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "fail2ban.log")
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	line := func(at time.Time) string {
		return fmt.Sprintf("%s fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.8\n", at.Format("2006-01-02 15:04:05,000"))
	}
	// Three bans within a minute, spread over log.2.gz and log.1; two more,
	// days later, in the current log.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(line(t0)))
	zw.Close()
	for name, text := range map[string]string{
		log + ".2.gz": gz.String(),
		log + ".1":    line(t0.Add(30*time.Second)) + line(t0.Add(time.Minute)),
		log:           line(t0.Add(72*time.Hour)) + line(t0.Add(72*time.Hour+time.Minute)),
	} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, order := range [][]string{
		{log + ".2.gz", log + ".1", log}, // oldest first
		{log, log + ".1", log + ".2.gz"}, // as a shell expands fail2ban.log*
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"recidivist", "scan", "--window", "1h", "--log-timezone", "UTC"}, order...)
		if code := run(context.Background(), args, &out, &errOut); code != 0 {
			t.Fatalf("scan %v: exit %d, stderr %s", order, code, errOut.String())
		}
		if !strings.Contains(out.String(), "192.0.2.8") {
			t.Errorf("scan %v did not find the offender of the rotated logs:\n%s%s", order, out.String(), errOut.String())
		}
	}
}
