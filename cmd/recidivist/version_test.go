package main

import "testing"

func TestVersionLine_names_what_the_build_info_knows(t *testing.T) {
	const rev = "e00311860520c3b05c20942600ae9261ed3c9d54"
	cases := []struct {
		name string
		b    build
		want string
	}{
		{"nothing_known", build{version: "dev"}, "recidivist dev (commit unknown)"},
		{"a_clean_checkout", build{version: "1.2.0", commit: rev, time: "2026-12-02T04:45:40Z"},
			"recidivist 1.2.0 (commit " + rev + ", committed 2026-12-02T04:45:40Z)"},
		{"local_changes", build{version: "dev", commit: rev, time: "2026-12-02T04:45:40Z", modified: true},
			"recidivist dev (commit " + rev + " with local changes, committed 2026-12-02T04:45:40Z)"},
		{"a_commit_from_ldflags_without_vcs_time", build{version: "0.0~git20261202.e003118", commit: rev},
			"recidivist 0.0~git20261202.e003118 (commit " + rev + ")"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
