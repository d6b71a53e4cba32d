package main

import (
	"fmt"
	"slices"
	"time"
)

// summary is the distribution of measured latencies.
type summary struct{ p50, p99, max time.Duration }

// summarize returns the nearest-rank percentiles of lat (which it sorts).
func summarize(lat []time.Duration) summary {
	if len(lat) == 0 {
		return summary{}
	}
	slices.Sort(lat)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(lat))+0.999999) - 1
		return lat[max(0, min(i, len(lat)-1))]
	}
	return summary{p50: rank(0.50), p99: rank(0.99), max: lat[len(lat)-1]}
}

func (s summary) String() string {
	return fmt.Sprintf("p50 %s  p99 %s  max %s", us(s.p50), us(s.p99), us(s.max))
}

// us prints a duration in µs below 10 ms, else in ms or s.
func us(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func rate(n int, d time.Duration) string {
	return fmt.Sprintf("%.0f/s", float64(n)/d.Seconds())
}
