package blocklist_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/recidivist/recidivist/blocklist"
)

func TestAdd(t *testing.T) {
	added := at("2026-11-24T13:55:51Z")
	tests := []struct {
		name      string
		before    string
		add       []blocklist.Entry
		wantAdded []string
		after     string
	}{
		{
			name:      "creates_the_file_with_the_entries",
			add:       []blocklist.Entry{{Prefix: pfx("203.0.113.7/32"), Added: added, Jails: []string{"sshd"}, Bans: 3}},
			wantAdded: []string{"203.0.113.7/32"},
			after:     "203.0.113.7 # recidivist 2026-11-24T13:55:51Z jails=sshd bans=3\n",
		},
		{
			name:   "an_address_already_listed_in_another_spelling_is_not_added_again",
			before: "10.0.0.1 # by hand\n2001:db8::1\n",
			add: []blocklist.Entry{
				{Prefix: pfx("10.0.0.1/32"), Added: added, Manual: true},
				{Prefix: pfx("::ffff:10.0.0.1/128"), Added: added, Manual: true},
				{Prefix: pfx("2001:db8:0::1/128"), Added: added, Manual: true},
			},
			wantAdded: []string{},
			after:     "10.0.0.1 # by hand\n2001:db8::1\n",
		},
		{
			name:   "the_same_address_twice_in_one_call_is_added_once",
			before: "",
			add: []blocklist.Entry{
				{Prefix: pfx("::ffff:192.0.2.5/128"), Added: added, Manual: true},
				{Prefix: pfx("192.0.2.5/32"), Added: added, Manual: true},
			},
			wantAdded: []string{"192.0.2.5/32"},
			after:     "192.0.2.5 # recidivist 2026-11-24T13:55:51Z manual\n",
		},
		{
			name:      "an_unmasked_range_is_stored_masked",
			add:       []blocklist.Entry{{Prefix: netip.PrefixFrom(netip.MustParseAddr("198.51.100.77"), 24), Added: added, Manual: true}},
			wantAdded: []string{"198.51.100.0/24"},
			after:     "198.51.100.0/24 # recidivist 2026-11-24T13:55:51Z manual\n",
		},
		{
			name: "human_comments_blank_lines_unknown_text_and_bad_lines_are_kept",
			before: "# my list, keep this header\n\n" +
				"192.0.2.10 # fail2ban/2013-03-02 14:05:11: auto-add for repeat offender\n" +
				"  192.0.2.11   odd spacing and no hash\n" +
				"999.1.1.1 # typo the human must see again\n" +
				"203.0.113.7 # recidivist 2026-11-20T10:00:00Z jails=sshd bans=3 note: customer asked\n" +
				"\n# trailing comment\n",
			add:       []blocklist.Entry{{Prefix: pfx("203.0.113.8/32"), Added: added, Jails: []string{"postfix"}, Bans: 4}},
			wantAdded: []string{"203.0.113.8/32"},
			after: "# my list, keep this header\n\n" +
				"192.0.2.10 # fail2ban/2013-03-02 14:05:11: auto-add for repeat offender\n" +
				"  192.0.2.11   odd spacing and no hash\n" +
				"999.1.1.1 # typo the human must see again\n" +
				"203.0.113.7 # recidivist 2026-11-20T10:00:00Z jails=sshd bans=3 note: customer asked\n" +
				"\n# trailing comment\n" +
				"203.0.113.8 # recidivist 2026-11-24T13:55:51Z jails=postfix bans=4\n",
		},
		{
			name:      "crlf_files_stay_crlf",
			before:    "# windows\r\n192.0.2.1\r\n",
			add:       []blocklist.Entry{{Prefix: pfx("192.0.2.2/32")}},
			wantAdded: []string{"192.0.2.2/32"},
			after:     "# windows\r\n192.0.2.1\r\n192.0.2.2\r\n",
		},
		{
			name:      "a_missing_final_newline_is_added",
			before:    "192.0.2.1",
			add:       []blocklist.Entry{{Prefix: pfx("192.0.2.2/32")}},
			wantAdded: []string{"192.0.2.2/32"},
			after:     "192.0.2.1\n192.0.2.2\n",
		},
		{
			name:      "duplicate_lines_a_human_wrote_are_dropped_on_rewrite",
			before:    "10.0.0.1 # first\n10.0.0.1/32 # second\n",
			add:       []blocklist.Entry{{Prefix: pfx("10.0.0.2/32")}},
			wantAdded: []string{"10.0.0.2/32"},
			after:     "10.0.0.1 # first\n10.0.0.2\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mirrorIn(t, tt.before)
			got, err := f.Add(tt.add...)
			if err != nil {
				t.Fatalf("Add: %v", err)
			}
			if p := prefixes(got); !reflect.DeepEqual(p, tt.wantAdded) {
				t.Errorf("added = %v, want %v", p, tt.wantAdded)
			}
			if tt.after == "" {
				return
			}
			if content := readFile(t, f); content != tt.after {
				t.Errorf("file =\n%s\nwant\n%s", content, tt.after)
			}
		})
	}
}

func TestAddCreatesPrivateFileAndDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "recidivist")
	f := blocklist.Open(filepath.Join(dir, "blocklist"))
	if _, err := f.Add(blocklist.Entry{Prefix: pfx("192.0.2.1/32")}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, f.Path(): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode = %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}
}

func TestAddWritesNothingWhenNothingIsNew(t *testing.T) {
	f := mirrorIn(t, "192.0.2.1\n")
	before, err := os.Stat(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Add(blocklist.Entry{Prefix: pfx("192.0.2.1/32")}); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the file was rewritten although nothing was added")
	}
}

func TestAddRefusesAnEntryWithoutPrefix(t *testing.T) {
	f := mirrorIn(t, "")
	if _, err := f.Add(blocklist.Entry{Comment: "no address"}); !errors.Is(err, blocklist.ErrNotAddress) {
		t.Fatalf("Add = %v, want ErrNotAddress", err)
	}
	if _, err := os.Stat(f.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file was created by a refused Add: %v", err)
	}
}

func TestRemove(t *testing.T) {
	const human = "# header\n\n" +
		"192.0.2.10 # fail2ban/2013: auto-add\n" +
		"10.0.0.0/24 # office range\n" +
		"bad line\n" +
		"2001:db8::1 # v6\n" +
		"192.0.2.11/32 # duplicate below\n" +
		"192.0.2.11\n"
	tests := []struct {
		name        string
		remove      []netip.Prefix
		wantRemoved []string
		after       string
		wantErr     error
	}{
		{
			name:        "removes_exactly_that_line_and_keeps_everything_else",
			remove:      []netip.Prefix{pfx("192.0.2.10/32")},
			wantRemoved: []string{"192.0.2.10/32"},
			after: "# header\n\n10.0.0.0/24 # office range\nbad line\n2001:db8::1 # v6\n" +
				"192.0.2.11/32 # duplicate below\n",
		},
		{
			name:        "another_spelling_of_the_address_removes_it",
			remove:      []netip.Prefix{pfx("::ffff:192.0.2.10/128"), pfx("2001:db8:0:0::1/128")},
			wantRemoved: []string{"192.0.2.10/32", "2001:db8::1/128"},
			after: "# header\n\n10.0.0.0/24 # office range\nbad line\n" +
				"192.0.2.11/32 # duplicate below\n",
		},
		{
			name:        "every_line_of_a_duplicated_address_goes",
			remove:      []netip.Prefix{pfx("192.0.2.11/32")},
			wantRemoved: []string{"192.0.2.11/32"},
			after:       "# header\n\n192.0.2.10 # fail2ban/2013: auto-add\n10.0.0.0/24 # office range\nbad line\n2001:db8::1 # v6\n",
		},
		{
			name:        "a_range_is_removed_by_its_prefix",
			remove:      []netip.Prefix{pfx("10.0.0.0/24")},
			wantRemoved: []string{"10.0.0.0/24"},
		},
		{
			name:        "an_unlisted_address_is_not_an_error_and_changes_nothing",
			remove:      []netip.Prefix{pfx("198.51.100.1/32")},
			wantRemoved: []string{},
			after:       human,
		},
		{
			name:    "an_address_inside_a_listed_range_is_refused_and_nothing_is_removed",
			remove:  []netip.Prefix{pfx("192.0.2.10/32"), pfx("10.0.0.5/32")},
			wantErr: blocklist.ErrInsideRange,
			after:   human,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mirrorIn(t, human)
			got, err := f.Remove(tt.remove...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Remove = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "10.0.0.0/24") {
					t.Errorf("error %q does not name the range", err)
				}
			} else if err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if tt.wantErr == nil {
				if p := prefixes(got); !reflect.DeepEqual(p, tt.wantRemoved) {
					t.Errorf("removed = %v, want %v", p, tt.wantRemoved)
				}
			}
			if tt.after != "" {
				if content := readFile(t, f); content != tt.after {
					t.Errorf("file =\n%s\nwant\n%s", content, tt.after)
				}
			}
			for _, e := range mustLoadAllowingBad(t, f) {
				for _, r := range got {
					if e.Prefix == r.Prefix {
						t.Errorf("%s still loads after Remove", r.Prefix)
					}
				}
			}
		})
	}
}

func TestRemoveFromAMissingFileCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	f := blocklist.Open(filepath.Join(dir, "blocklist"))
	got, err := f.Remove(pfx("192.0.2.1/32"))
	if err != nil || len(got) != 0 {
		t.Fatalf("Remove = %v, %v; want nothing, no error", got, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Remove created the state directory: %v", err)
	}
}

func TestExpire(t *testing.T) {
	f := mirrorIn(t, "# kept\n"+
		"192.0.2.1 # recidivist 2026-11-24T00:00:00Z jails=sshd bans=3 expires=2026-11-25T00:00:00Z\n"+
		"192.0.2.2 # recidivist 2026-11-24T00:00:00Z jails=sshd bans=3 expires=2026-11-25T00:00:01Z\n"+
		"192.0.2.3 # recidivist 2026-11-24T00:00:00Z jails=sshd bans=3\n"+
		"192.0.2.4 # hand-written, no expiry\n"+
		"192.0.2.5 # recidivist 2026-11-20T00:00:00Z manual expires=2026-11-21T00:00:00Z\n")
	now := at("2026-11-25T00:00:00Z")
	got, err := f.Expire(now)
	if err != nil {
		t.Fatal(err)
	}
	if p := prefixes(got); !reflect.DeepEqual(p, []string{"192.0.2.1/32", "192.0.2.5/32"}) {
		t.Errorf("expired = %v, want the entries whose expiry is at or before now", p)
	}
	if p := prefixes(mustLoad(t, f)); !reflect.DeepEqual(p, []string{"192.0.2.2/32", "192.0.2.3/32", "192.0.2.4/32"}) {
		t.Errorf("left = %v", p)
	}
	if !strings.HasPrefix(readFile(t, f), "# kept\n") {
		t.Error("Expire lost the header comment")
	}
	again, err := f.Expire(now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if p := prefixes(again); !reflect.DeepEqual(p, []string{"192.0.2.2/32"}) {
		t.Errorf("a second later expired = %v, want [192.0.2.2/32]", p)
	}
}

// mustLoadAllowingBad loads f, tolerating bad lines.
func mustLoadAllowingBad(t *testing.T, f *blocklist.File) []blocklist.Entry {
	t.Helper()
	es, _, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestUnchangedTellsVersionsItKnowsFromOthers(t *testing.T) {
	f := mirrorIn(t, "")
	if f.Unchanged() {
		t.Error("Unchanged before any write")
	}
	e := blocklist.Entry{Prefix: pfx("192.0.2.1/32"), Added: at("2026-11-25T00:00:00Z"), Bans: 3}
	if _, err := f.Add(e); err != nil {
		t.Fatal(err)
	}
	if !f.Unchanged() {
		t.Error("not Unchanged right after its own write")
	}
	other := blocklist.Open(f.Path())
	if other.Unchanged() {
		t.Error("another File (another command) takes the write for its own")
	}
	if _, _, err := other.Load(); err != nil {
		t.Fatal(err)
	}
	if !other.Unchanged() {
		t.Error("not Unchanged right after reading the file")
	}
	// An editor's save: same bytes, a new file renamed over the old one.
	content := readFile(t, f)
	tmp := f.Path() + ".swp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, f.Path()); err != nil {
		t.Fatal(err)
	}
	if f.Unchanged() {
		t.Error("Unchanged after an editor replaced the file")
	}
	if _, err := f.Add(blocklist.Entry{Prefix: pfx("192.0.2.2/32")}); err != nil {
		t.Fatal(err)
	}
	h, err := os.OpenFile(f.Path(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteString("198.51.100.9\n"); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if f.Unchanged() {
		t.Error("Unchanged after a line was appended by hand")
	}
	// A chmod that lets others write the file: a reader must look again
	// (and refuse it).
	if _, _, err := f.Load(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f.Path(), 0o666); err != nil {
		t.Fatal(err)
	}
	if f.Unchanged() {
		t.Error("Unchanged after a chmod 666")
	}
}
