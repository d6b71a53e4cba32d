package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestInterspersed_moves_a_commands_options_before_its_arguments(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"option with a value after the address", "recidivist ban 203.0.113.7 --comment abuse", "recidivist ban --comment abuse 203.0.113.7"},
		{"between addresses", "recidivist ban 192.0.2.1 --comment x 192.0.2.2", "recidivist ban --comment x 192.0.2.1 192.0.2.2"},
		{"a bool option takes no value", "recidivist ban 10.0.0.0/8 --force 192.0.2.1", "recidivist ban --force 10.0.0.0/8 192.0.2.1"},
		{"a config bool option takes no value", "recidivist unban 192.0.2.1 --dry-run 192.0.2.2", "recidivist unban --dry-run 192.0.2.1 192.0.2.2"},
		{"name=value is one word", "recidivist scan a.log --window=2w b.log", "recidivist scan --window=2w a.log b.log"},
		{"a value that looks like an option stays with its option", "recidivist offenders --top -1", "recidivist offenders --top -1"},
		{"after -- nothing moves", "recidivist scan a.log -- --json", "recidivist scan a.log -- --json"},
		{"options first are left alone", "recidivist list --json", "recidivist list --json"},
		{"global options and no command", "recidivist --version", "recidivist --version"},
		{"an unknown command", "recidivist frobnicate x --y", "recidivist frobnicate x --y"},
		{"an unknown option moves too, to be refused", "recidivist ban 192.0.2.1 --bogus", "recidivist ban --bogus 192.0.2.1"},
	}
	app := newApp(io.Discard, io.Discard)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := interspersed(app, strings.Fields(tt.in))
			if want := strings.Fields(tt.want); !slices.Equal(got, want) {
				t.Errorf("interspersed(%q) = %q, want %q", tt.in, got, want)
			}
		})
	}
}
