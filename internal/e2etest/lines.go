package e2etest

import (
	"fmt"
	"net/netip"
	"time"
)

// F2BPID is the process id written in the generated fail2ban lines.
const F2BPID = 9091

// ActionLine formats msg as fail2ban 1.0.2 logs a fail2ban.actions NOTICE
// at time at, byte for byte the shape of ../shared/corpus/fail2ban-1.0.2.log:
//
//	2026-11-24 15:51:53,831 fail2ban.actions        [9091]: NOTICE  [sshd] Ban 192.0.2.10
func ActionLine(at time.Time, msg string) string {
	return fmt.Sprintf("%s,%03d %-24s[%d]: %-7s %s", at.Format(time.DateTime), at.Nanosecond()/1e6,
		"fail2ban.actions", F2BPID, "NOTICE", msg)
}

// BanLine is the countable line: [jail] Ban addr.
func BanLine(at time.Time, jail string, addr netip.Addr) string {
	return ActionLine(at, fmt.Sprintf("[%s] Ban %s", jail, addr))
}
