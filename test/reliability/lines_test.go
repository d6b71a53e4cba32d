package reliability

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/internal/e2etest"
)

// appendLines appends lines to the log at path in one write, as fail2ban's
// logging handler flushes each record.
func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := appendRaw(path, strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
}

// appendRaw appends data to the file at path, creating it 0644.
func appendRaw(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close() //nolint:errcheck // the write error is the one to report
		return fmt.Errorf("appending to %s: %w", path, err)
	}
	return f.Close()
}

// The jails of the generated bans. An offender gets one ban in each of the
// three, a near miss one in each of the first two: a line counted twice
// shows as an offender whose mirror entry names two jails instead of three,
// or as a near miss that is blocked.
var jails = []string{"sshd", "postfix-sasl", "nginx-http-auth"}

// offenderJails is how the mirror writes the jails of a generated offender.
const offenderJails = "nginx-http-auth,postfix-sasl,sshd"

// population is a generated set of addresses whose fate is known by
// construction: every offender reaches the threshold of 3 (one ban in each
// jail), no near miss does (two bans).
type population struct {
	offenders, near []netip.Addr
}

// event is one ban to write.
type event struct {
	addr netip.Addr
	jail string
}

// newPopulation makes offenders and near misses from block (0–15, so that
// two populations of one test never share an address): IPv4 addresses in
// 198.18.0.0/15 and, for every fifth address, IPv6 ones in 2001:db8::/32.
func newPopulation(block, offenders, near int) *population {
	p := &population{}
	for i := range offenders + near {
		a := genAddr(block, i)
		if i < offenders {
			p.offenders = append(p.offenders, a)
		} else {
			p.near = append(p.near, a)
		}
	}
	return p
}

// genAddr is the i-th generated address of block (i < 8,000): global
// unicast, never an address ending in .0 or .255.
func genAddr(block, i int) netip.Addr {
	if i%5 == 4 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(block), 0, 0, 0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)})
	}
	n := block*32 + i/250 // the /24 of 198.18.0.0/15 it is in: 32 for each block
	return netip.AddrFrom4([4]byte{198, 18 + byte(n>>8), byte(n), byte(i%250 + 1)})
}

// events are the population's bans in a shuffled order (seeded: the same
// every run), each address's bans spread over the stream.
func (p *population) events(seed uint64) []event {
	var evs []event
	for _, a := range p.offenders {
		for _, j := range jails {
			evs = append(evs, event{a, j})
		}
	}
	for _, a := range p.near {
		for _, j := range jails[:2] {
			evs = append(evs, event{a, j})
		}
	}
	rand.New(rand.NewPCG(seed, 9)).Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	return evs
}

// want is what the population must leave blocked: each offender with the
// jails the mirror must name.
func (p *population) want() map[netip.Prefix]string {
	w := make(map[netip.Prefix]string, len(p.offenders))
	for _, a := range p.offenders {
		w[netip.PrefixFrom(a, a.BitLen())] = offenderJails
	}
	return w
}

// writeAll appends every event at once, stamped now.
func (p *population) writeAll(t *testing.T, path string, seed uint64) int {
	t.Helper()
	evs := p.events(seed)
	now := time.Now()
	lines := make([]string, len(evs))
	for i, e := range evs {
		lines[i] = e2etest.BanLine(now, e.jail, e.addr)
	}
	appendLines(t, path, lines...)
	return len(lines)
}

// stream writes evs to the log at path in batches of batch lines, at
// about rate lines per second, each line stamped when written. Before
// batch k it calls between(k) (rotations happen there, with no write under
// way, as fail2ban's logger is between records). It returns the first
// error.
func stream(path string, evs []event, batch int, rate float64, between func(k int) error) error {
	start := time.Now()
	for k, i := 0, 0; i < len(evs); k++ {
		if between != nil {
			if err := between(k); err != nil {
				return err
			}
		}
		end := min(i+batch, len(evs))
		now := time.Now()
		var b strings.Builder
		for _, e := range evs[i:end] {
			b.WriteString(e2etest.BanLine(now, e.jail, e.addr))
			b.WriteByte('\n')
		}
		if err := appendRaw(path, b.String()); err != nil {
			return err
		}
		i = end
		if ahead := time.Duration(float64(i)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead) // pacing, not waiting for a condition
		}
	}
	return nil
}
