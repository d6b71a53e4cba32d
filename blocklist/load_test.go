package blocklist_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/recidivist/recidivist/blocklist"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string // prefixes in force, in order
		badAt   []int    // line numbers reported
	}{
		{
			name:    "missing_file_is_an_empty_list",
			content: "",
			want:    []string{},
		},
		{
			name:    "comments_and_blank_lines_are_ignored",
			content: "# header\n\n   \n\t# indented comment\n192.0.2.1\n",
			want:    []string{"192.0.2.1/32"},
		},
		{
			name:    "bad_lines_are_skipped_and_every_good_line_stays",
			content: "192.0.2.1\ngarbage\n999.1.1.1 # out of range\n10.0.0.1/33\n192.0.2.2 # fine\n",
			want:    []string{"192.0.2.1/32", "192.0.2.2/32"},
			badAt:   []int{2, 3, 4},
		},
		{
			name:    "the_same_address_written_differently_is_listed_once",
			content: "10.0.0.1\n10.0.0.1/32\n::ffff:10.0.0.1\n10.0.0.0/24\n10.0.0.9/24\n",
			want:    []string{"10.0.0.1/32", "10.0.0.0/24"},
			badAt:   []int{2, 3, 5},
		},
		{
			name:    "duplicates_and_bad_lines_are_reported_in_line_order",
			content: "2001:db8::9\n192.0.2.9\nnot an address\n2001:db8::9 # again\n10.0.0.1\n192.0.2.9\n",
			want:    []string{"2001:db8::9/128", "192.0.2.9/32", "10.0.0.1/32"},
			badAt:   []int{3, 4, 6},
		},
		{
			name:    "crlf_line_endings_are_read",
			content: "# from windows\r\n192.0.2.1 # one\r\n\r\n2001:db8::1\r\n",
			want:    []string{"192.0.2.1/32", "2001:db8::1/128"},
		},
		{
			name:    "a_last_line_without_newline_counts",
			content: "192.0.2.1\n192.0.2.2",
			want:    []string{"192.0.2.1/32", "192.0.2.2/32"},
		},
		{
			name:    "utf8_byte_order_mark_is_skipped",
			content: "\uFEFF192.0.2.1\n",
			want:    []string{"192.0.2.1/32"},
		},
		{
			name:    "comment_may_follow_the_address_without_a_space",
			content: "192.0.2.1#note\n",
			want:    []string{"192.0.2.1/32"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mirrorIn(t, tt.content)
			es, bad, err := f.Load()
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := prefixes(es); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("entries = %v, want %v", got, tt.want)
			}
			var lines []int
			for _, le := range bad {
				lines = append(lines, le.Line)
				if !strings.HasPrefix(le.Error(), f.Path()+":") {
					t.Errorf("line error %q does not start with the path", le.Error())
				}
				if !errors.Is(le, blocklist.ErrNotAddress) && !errors.Is(le, blocklist.ErrDuplicate) {
					t.Errorf("line error %v wraps neither ErrNotAddress nor ErrDuplicate", le)
				}
			}
			if !reflect.DeepEqual(lines, tt.badAt) {
				t.Errorf("bad lines reported = %v, want %v", lines, tt.badAt)
			}
		})
	}
}

func TestLoadNamesTheLineADuplicateRepeats(t *testing.T) {
	f := mirrorIn(t, "192.0.2.1\n198.51.100.7\n# note\n192.0.2.1\n198.51.100.7/32\n198.51.100.7\n")
	_, bad, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, le := range bad {
		got = append(got, le.Error()[len(f.Path()):])
	}
	want := []string{
		":4: 192.0.2.1: address already listed on line 1; delete this line",
		":5: 198.51.100.7: address already listed on line 2; delete this line",
		":6: 198.51.100.7: address already listed on line 2; delete this line",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadReportsPathLineAndText(t *testing.T) {
	f := mirrorIn(t, "192.0.2.1\n999.1.1.1 # typo\n")
	_, bad, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 {
		t.Fatalf("got %d bad lines, want 1", len(bad))
	}
	le := bad[0]
	if le.Path != f.Path() || le.Line != 2 || le.Text != "999.1.1.1 # typo" {
		t.Errorf("LineError = %+v", le)
	}
	want := f.Path() + `:2: parsing "999.1.1.1": `
	if !strings.HasPrefix(le.Error(), want) || !strings.Contains(le.Error(), "fix or delete the line") {
		t.Errorf("Error() = %q, want it to start with %q and say what to do", le.Error(), want)
	}
}

func TestLoadReadsTheIptablesRepeaterRecipe(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "ip.blocklist.ssh"))
	if err != nil {
		t.Fatal(err)
	}
	f := mirrorIn(t, string(data))
	es := mustLoad(t, f)
	want := []string{"192.0.2.10/32", "198.51.100.23/32", "203.0.113.0/24", "203.0.113.77/32", "2001:db8::bad/128", "2001:db8:1::/48"}
	if got := prefixes(es); !reflect.DeepEqual(got, want) {
		t.Fatalf("entries = %v, want %v", got, want)
	}
	comments := []string{
		"fail2ban/2013-03-02 14:05:11: auto-add for repeat offender",
		"fail2ban/2013-03-05 02:17:40: auto-add for repeat offender",
		"added by hand: whole hosting range",
		"spammer, older recipe variant without the hash",
		"indented line",
		"tab before the hash",
	}
	for i, e := range es {
		if e.Comment != comments[i] {
			t.Errorf("entry %d comment = %q, want %q", i, e.Comment, comments[i])
		}
		if !e.Added.IsZero() || e.Manual || e.Bans != 0 || e.Jails != nil || !e.Expires.IsZero() {
			t.Errorf("entry %d of a hand-written file has metadata: %+v", i, e)
		}
	}
}

func TestLoadParsesMetadata(t *testing.T) {
	f := mirrorIn(t, "203.0.113.7 # recidivist 2026-11-24T13:55:51Z jails=sshd,postfix bans=3 expires=2026-12-01T13:55:51Z\n"+
		"203.0.113.8 # recidivist 2026-11-24T13:55:51Z manual bans=x kept as text\n")
	es := mustLoad(t, f)
	if len(es) != 2 {
		t.Fatalf("got %d entries", len(es))
	}
	a := es[0]
	if !a.Added.Equal(at("2026-11-24T13:55:51Z")) || !a.Expires.Equal(at("2026-12-01T13:55:51Z")) ||
		!reflect.DeepEqual(a.Jails, []string{"sshd", "postfix"}) || a.Bans != 3 || a.Manual {
		t.Errorf("offender entry = %+v", a)
	}
	b := es[1]
	if !b.Manual || b.Bans != 0 || b.Comment != "recidivist 2026-11-24T13:55:51Z manual bans=x kept as text" {
		t.Errorf("a malformed field must end the metadata and stay as text; got %+v", b)
	}
}
