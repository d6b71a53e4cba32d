package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

func TestMergeJailsKeepsTheSortedUnion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		a, b   []string
		want   []string
		reuseA bool
	}{
		{"same_jails_reuse_the_first", []string{"postfix", "sshd"}, []string{"postfix", "sshd"}, []string{"postfix", "sshd"}, true},
		{"fewer_jails_reuse_the_first", []string{"dovecot", "postfix", "sshd"}, []string{"sshd"}, []string{"dovecot", "postfix", "sshd"}, true},
		{"a_new_jail_between", []string{"dovecot", "sshd"}, []string{"postfix"}, []string{"dovecot", "postfix", "sshd"}, false},
		{"a_new_jail_after_the_last", []string{"dovecot"}, []string{"dovecot", "sshd"}, []string{"dovecot", "sshd"}, false},
		{"a_new_jail_before_the_first", []string{"sshd"}, []string{"apache-auth"}, []string{"apache-auth", "sshd"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := slices.Clone(tc.a)
			got := mergeJails(a, tc.b)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("mergeJails(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if !slices.Equal(a, tc.a) {
				t.Fatalf("mergeJails changed its first argument to %v", a)
			}
			if reused := len(got) > 0 && &got[0] == &a[0]; reused != tc.reuseA {
				t.Fatalf("first argument reused: %v, want %v", reused, tc.reuseA)
			}
		})
	}
}
