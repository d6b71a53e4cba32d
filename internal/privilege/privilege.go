// Package privilege holds the one rule recidivist uses to decide whether it
// may change the firewall: CAP_NET_ADMIN in the effective capability set,
// which is what the kernel itself asks for. Root has it; so does a service
// granted it (AmbientCapabilities=CAP_NET_ADMIN) under any user.
package privilege

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// CapNetAdmin is CAP_NET_ADMIN's bit number in the capability sets.
const CapNetAdmin = 12

// NetAdmin reports whether this process holds CAP_NET_ADMIN in its
// effective set.
func NetAdmin() (bool, error) {
	caps, err := CapEff()
	if err != nil {
		return false, err
	}
	return HasNetAdmin(caps), nil
}

// HasNetAdmin reports whether the capability set caps holds CAP_NET_ADMIN.
func HasNetAdmin(caps uint64) bool { return caps&(1<<CapNetAdmin) != 0 }

// CapEff reads this process's effective capability set from
// /proc/self/status.
func CapEff() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading capabilities: %w", err)
	}
	return parseCapEff(b)
}

// parseCapEff finds the CapEff line of a /proc/PID/status text.
func parseCapEff(status []byte) (uint64, error) {
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("CapEff:")); ok {
			caps, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("reading capabilities: CapEff %q: %w", bytes.TrimSpace(v), err)
			}
			return caps, nil
		}
	}
	return 0, errors.New("reading capabilities: no CapEff line in /proc/self/status")
}
