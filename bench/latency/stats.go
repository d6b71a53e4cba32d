package main

import (
	"slices"
	"time"
)

// summary is the distribution of the measured latencies.
type summary struct{ p50, p99, max time.Duration }

// summarize returns the nearest-rank percentiles of lat (which it sorts).
func summarize(lat []time.Duration) summary {
	slices.Sort(lat)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(lat))+0.999999) - 1
		return lat[max(0, min(i, len(lat)-1))]
	}
	return summary{p50: rank(0.50), p99: rank(0.99), max: lat[len(lat)-1]}
}
