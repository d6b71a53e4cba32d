// Command latency measures how long a repeat offender stays unblocked after
// the Ban line that makes it one: from the moment the deciding line is
// written (and flushed) to fail2ban's log until the address is in force in
// the kernel. bench/latency.sh runs it inside a throwaway network namespace,
// once against `recidivist run` (-mode recidivist: polls the ipset over
// netlink) and once against fail2ban's own recidive jail (-mode fail2ban:
// polls iptables for the jail's per-address rule).
//
//	latency -mode recidivist -log LOG -set NAME -n 1000
//	latency -mode fail2ban -log LOG -chain f2b-recidive -n 100
//
// It prints n, p50, p99 and max, and with -out also writes them as one line
// "name n p50_ms p99_ms max_ms" for the script to compare.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"
)

func main() {
	mode := flag.String("mode", "recidivist", "what blocks: recidivist (an ipset) or fail2ban (an iptables chain)")
	logPath := flag.String("log", "", "the fail2ban log the blocker follows (appended to)")
	set := flag.String("set", "recidivist", "recidivist's IPv4 ipset (-mode recidivist)")
	chain := flag.String("chain", "f2b-recidive", "fail2ban's chain for the jail (-mode fail2ban)")
	n := flag.Int("n", 1000, "offenders to measure, one at a time")
	first := flag.String("first", "198.18.0.1", "first offender address (IPv4, counted up)")
	out := flag.String("out", "", "also write 'name n p50_ms p99_ms max_ms' to this file")
	timeout := flag.Duration("timeout", 30*time.Second, "give up on an offender after this long")
	settleFor := flag.Duration("settle", time.Second, "wait this long after the first two bans of every offender")
	flag.Parse()
	if err := run(*mode, *logPath, *set, *chain, *n, *first, *out, *timeout, *settleFor); err != nil {
		fmt.Fprintf(os.Stderr, "latency: %v\n", err)
		os.Exit(1)
	}
}

func run(mode, logPath, set, chain string, n int, first, out string, timeout, settleFor time.Duration) error {
	if logPath == "" || n < 1 {
		return errors.New("give -log and -n ≥ 1")
	}
	start, err := netip.ParseAddr(first)
	if err != nil || !start.Is4() {
		return fmt.Errorf("-first %q: give an IPv4 address", first)
	}
	var probe prober
	switch mode {
	case "recidivist":
		probe, err = newSetProber(set)
	case "fail2ban":
		probe = newChainProber(chain)
	default:
		return fmt.Errorf("-mode %q: give recidivist or fail2ban", mode)
	}
	if err != nil {
		return err
	}
	defer probe.Close()

	addrs := make([]netip.Addr, n)
	for i, a := 0, start; i < n; i, a = i+1, a.Next() {
		addrs[i] = a
	}
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("opening the log: %w", err)
	}
	defer log.Close() //nolint:errcheck // every write is checked; nothing buffered

	// Two bans each, in two jails, all at once: the blocker counts them
	// before the timed third lines come.
	w := bufio.NewWriter(log)
	for _, a := range addrs {
		now := time.Now()
		fmt.Fprintln(w, banLine(now, "sshd", a))
		fmt.Fprintln(w, banLine(now, "postfix-sasl", a))
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing the first bans: %w", err)
	}
	if err := settle(probe, addrs[0], settleFor); err != nil {
		return err
	}

	lat := make([]time.Duration, 0, n)
	for _, a := range addrs {
		line := []byte(banLine(time.Now(), "nginx-http-auth", a) + "\n")
		if _, err := log.Write(line); err != nil { // one write(2): on file when it returns
			return fmt.Errorf("writing the third ban of %s: %w", a, err)
		}
		written := time.Now()
		d, err := waitIn(probe, a, written, timeout)
		if err != nil {
			return err
		}
		lat = append(lat, d)
	}
	s := summarize(lat)
	fmt.Printf("%-10s offenders=%d p50=%v p99=%v max=%v (poll: %s)\n", mode, n, s.p50, s.p99, s.max, probe)
	if out != "" {
		line := fmt.Sprintf("%s %d %.3f %.3f %.3f\n", mode, n, ms(s.p50), ms(s.p99), ms(s.max))
		if err := os.WriteFile(out, []byte(line), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", out, err)
		}
	}
	return nil
}

// settle gives the blocker d to read the first bans, so that the timed
// lines meet a blocker that has caught up, and checks that two bans did
// not block the first offender.
func settle(p prober, a netip.Addr, d time.Duration) error {
	time.Sleep(d)
	in, err := p.Has(a)
	if err != nil {
		return err
	}
	if in {
		return fmt.Errorf("%s is blocked after two bans: the blocker's threshold is not 3", a)
	}
	return nil
}

// waitIn polls p until a is in force and returns how long after written it
// was first seen.
func waitIn(p prober, a netip.Addr, written time.Time, timeout time.Duration) (time.Duration, error) {
	for {
		in, err := p.Has(a)
		if err != nil {
			return 0, err
		}
		if in {
			return time.Since(written), nil
		}
		if time.Since(written) > timeout {
			return 0, fmt.Errorf("%s not blocked %v after its third ban line", a, timeout)
		}
		p.Pause()
	}
}

// banLine is fail2ban 1.0.2's countable line, byte for byte.
func banLine(at time.Time, jail string, a netip.Addr) string {
	return fmt.Sprintf("%s,%03d %-24s[%d]: %-7s [%s] Ban %s", at.Format(time.DateTime), at.Nanosecond()/1e6,
		"fail2ban.actions", 9091, "NOTICE", jail, a)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
