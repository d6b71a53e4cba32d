// Command genlog writes a realistic fail2ban.log for benchmarks: fail2ban
// 1.0.2's exact padded line format, increasing millisecond timestamps, 16
// jails, IPv4 and IPv6 attackers drawn Zipf-like (a few come back often, most
// once), and the mix of a busy server: ~78% Found, 10% Ban, 8% Unban, plus
// Restore Ban, already banned, Increase Ban and [recidive] lines.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"time"
)

var jails = []string{"sshd", "postfix-sasl", "nginx-http-auth", "dovecot", "apache-auth", "nginx-botsearch",
	"postfix", "courier-auth", "exim", "vsftpd", "proftpd", "asterisk", "named-refused", "mysqld-auth", "sogo-auth", "selinux-ssh"}

func main() {
	lines := flag.Int("lines", 1_000_000, "lines to write")
	attackers := flag.Int("attackers", 200_000, "distinct attacking addresses")
	seed := flag.Uint64("seed", 1, "random seed (same seed, same file)")
	out := flag.String("o", "-", "output file (- for stdout)")
	flag.Parse()

	f := os.Stdout
	if *out != "-" {
		var err error
		if f, err = os.Create(*out); err != nil {
			fmt.Fprintln(os.Stderr, "genlog:", err)
			os.Exit(1)
		}
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(*seed+1, 7)), 1.1, 1, uint64(*attackers-1))
	addrs := make([]netip.Addr, *attackers)
	for i := range addrs {
		if i%10 == 9 { // one attacker in ten comes over IPv6
			var b [16]byte
			b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
			for j := 4; j < 16; j++ {
				b[j] = byte(rng.Uint32())
			}
			addrs[i] = netip.AddrFrom16(b)
			continue
		}
		for {
			v := rng.Uint32()
			a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
			if a.IsGlobalUnicast() && !a.IsPrivate() {
				addrs[i] = a
				break
			}
		}
	}
	// Spread the lines over 5 days ending now, so a one-week window sees them all.
	span := 5 * 24 * time.Hour
	t := time.Now().Add(-span)
	step := span / time.Duration(*lines)
	pid := 9091
	for i := 0; i < *lines; i++ {
		t = t.Add(step/2 + time.Duration(rng.Int64N(int64(step))))
		ts := t.Format("2006-01-02 15:04:05,000")
		a := addrs[zipf.Uint64()]
		jail := jails[rng.IntN(len(jails))]
		switch r := rng.IntN(1000); {
		case r < 780:
			fmt.Fprintf(w, "%s fail2ban.filter         [%d]: INFO    [%s] Found %s - %s\n", ts, pid, jail, a, t.Add(-time.Duration(rng.IntN(3000))*time.Millisecond).Format("2006-01-02 15:04:05"))
		case r < 880:
			fmt.Fprintf(w, "%s fail2ban.actions        [%d]: NOTICE  [%s] Ban %s\n", ts, pid, jail, a)
		case r < 960:
			fmt.Fprintf(w, "%s fail2ban.actions        [%d]: NOTICE  [%s] Unban %s\n", ts, pid, jail, a)
		case r < 970:
			fmt.Fprintf(w, "%s fail2ban.actions        [%d]: NOTICE  [%s] Restore Ban %s\n", ts, pid, jail, a)
		case r < 980:
			fmt.Fprintf(w, "%s fail2ban.actions        [%d]: WARNING [%s] %s already banned\n", ts, pid, jail, a)
		case r < 990:
			fmt.Fprintf(w, "%s fail2ban.observer       [%d]: NOTICE  [%s] Increase Ban %s (2 # 12s -> %s)\n", ts, pid, jail, a, t.Add(12*time.Second).Format("2006-01-02 15:04:05"))
		default:
			fmt.Fprintf(w, "%s fail2ban.actions        [%d]: NOTICE  [recidive] Ban %s\n", ts, pid, a)
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
}
