package sample

import "testing"

func TestList_names_the_first_five_and_counts_the_rest(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want string
	}{
		{"nothing is empty", nil, ""},
		{"one is itself", []string{"a"}, "a"},
		{"five are all named", []string{"a", "b", "c", "d", "e"}, "a, b, c, d, e"},
		{"seven name five and count two", []string{"a", "b", "c", "d", "e", "f", "g"}, "a, b, c, d, e and 2 more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := List(tc.in); got != tc.want {
				t.Errorf("List(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
