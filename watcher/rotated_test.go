package watcher

import (
	"slices"
	"testing"
)

func TestOldestFirstPutsRotatedCopiesBeforeTheirLogWhateverTheOrderGiven(t *testing.T) {
	tests := []struct {
		name        string
		given, want []string
	}{
		{"a_shell_glob_lists_the_log_first_and_10_before_2",
			[]string{"/l/f2b.log", "/l/f2b.log.1", "/l/f2b.log.10.gz", "/l/f2b.log.2.gz"},
			[]string{"/l/f2b.log.10.gz", "/l/f2b.log.2.gz", "/l/f2b.log.1", "/l/f2b.log"}},
		{"dateext_copies_by_date",
			[]string{"/l/f2b.log", "/l/f2b.log-20261124.gz", "/l/f2b.log-20261117.gz"},
			[]string{"/l/f2b.log-20261117.gz", "/l/f2b.log-20261124.gz", "/l/f2b.log"}},
		{"files_of_different_logs_keep_the_order_given",
			[]string{"/b/x.log", "/a/y.log.1", "/b/x.log.1", "/a/y.log"},
			[]string{"/b/x.log.1", "/b/x.log", "/a/y.log.1", "/a/y.log"}},
		{"names_that_are_no_rotation_stay_as_given",
			[]string{"/l/old-dump.txt", "/l/mail.err", "/l/f2b.log.gz"},
			[]string{"/l/old-dump.txt", "/l/mail.err", "/l/f2b.log.gz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OldestFirst(tt.given); !slices.Equal(got, tt.want) {
				t.Errorf("OldestFirst(%v) = %v, want %v", tt.given, got, tt.want)
			}
		})
	}
}
