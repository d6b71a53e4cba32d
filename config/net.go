package config

import (
	"fmt"
	"strconv"
)

// Net is the validated net-* settings: net escalation, which blocks a
// whole network once several of its addresses are blocked repeat
// offenders.
type Net struct {
	On        bool
	PrefixV4  int // the network of an IPv4 offender, /16 to /31
	ThreshV4  int // distinct blocked automatic offenders that make an IPv4 range
	PrefixV6  int // /48 to /127
	ThreshV6  int
	MaxRanges int // most ranges escalation keeps at once
}

// Hardest limits of net escalation: never a range wider than these.
const (
	NetWidestV4 = 16
	NetWidestV6 = 48
)

// loadNet validates the net-* keys into cfg.Net.
func loadNet(cfg *Config, str func(string) string, bad func(key, value, allowed string)) {
	n := &cfg.Net
	n.On = str("net-escalation") == "true"
	num := func(key string, lo, hi int, allowed string) int {
		v, err := strconv.Atoi(str(key))
		if err != nil || v < lo || v > hi {
			bad(key, str(key), fmt.Sprintf("a whole number from %d to %d%s", lo, hi, allowed))
		}
		return v
	}
	n.PrefixV4 = num("net-prefix-v4", NetWidestV4, 31, " (a prefix length: 24 blocks a /24; never wider than /16)")
	n.ThreshV4 = num("net-threshold-v4", 2, 1000, " (distinct blocked offenders of one network)")
	n.PrefixV6 = num("net-prefix-v6", NetWidestV6, 127, " (a prefix length: 64 blocks a /64; never wider than /48)")
	n.ThreshV6 = num("net-threshold-v6", 2, 1000, " (distinct blocked offenders of one network)")
	n.MaxRanges = num("net-max-ranges", 1, 1000000, "")
}

// Prefix returns the escalation prefix length for an IPv4 (is4) or IPv6
// offender, and its threshold.
func (n Net) Prefix(is4 bool) (bits, threshold int) {
	if is4 {
		return n.PrefixV4, n.ThreshV4
	}
	return n.PrefixV6, n.ThreshV6
}
