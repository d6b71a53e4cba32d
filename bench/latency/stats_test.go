package main

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(100 - i) // 100 ms down to 1 ms: sorting is summarize's job
	}
	tests := []struct {
		name string
		lat  []time.Duration
		want summary
	}{
		{"one_sample_is_every_percentile", []time.Duration{ms(7)}, summary{ms(7), ms(7), ms(7)}},
		{"hundred_samples_give_the_50th_and_99th_by_nearest_rank", hundred, summary{ms(50), ms(99), ms(100)}},
		{"a_single_outlier_among_ten_is_p99_and_max_not_p50", []time.Duration{ms(1), ms(1), ms(1), ms(1), ms(1), ms(2), ms(2), ms(2), ms(2), ms(90)}, summary{ms(1), ms(90), ms(90)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize(tt.lat); got != tt.want {
				t.Errorf("summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}
