package docgen

import (
	"strings"

	"github.com/recidivist/recidivist/config"
)

// ConfigManual returns recidivist.toml(5): every configuration key with its
// kind, default, flag, environment variable, meaning and, where the value is
// one of a fixed set, the set.
func ConfigManual() string {
	var r roff
	r.raw(`.\" Generated from the configuration key table (internal/docgen); do not edit. Update with: make man`)
	r.macro("TH", "RECIDIVIST.TOML", "5", "", "recidivist", "File Formats")
	r.raw(".SH NAME")
	r.text("recidivist.toml - configuration file of recidivist(8)")
	r.raw(".SH SYNOPSIS")
	r.raw(".I " + esc(config.DefaultPath))
	r.raw(".SH DESCRIPTION")
	r.prose("recidivist reads its settings from this TOML file (another one with --config FILE or RECIDIVIST_CONFIG). " +
		"A missing file at the default path is not an error: every key has a default.\n\n" +
		"Every key is also a command-line flag (--threshold 5) and an environment variable " +
		"(RECIDIVIST_THRESHOLD=5: upper case, \"-\" becomes \"_\"). A flag beats the environment, " +
		"which beats this file, which beats the default.\n\n" +
		"Durations are fail2ban's: a plain number of seconds (\"600\") or numbers with units s m h d w mo y " +
		"in any combination (\"90s\", \"10m\", \"1h30m\", \"1w2d\", \"1.5h\"); a year is 365.25 days and a month a twelfth of it. " +
		"Lists are written as [\"a\", \"b\"] or, for one value, as \"a\"; in a flag or an environment variable, separate values with commas.\n\n" +
		"The file must not be writable by group or others: recidivist refuses it and says how to fix it (chmod go-w FILE). " +
		"Check a file with: recidivist check --config FILE")
	r.raw(".SH KEYS")
	for _, k := range config.Keys {
		r.raw(".TP\n" + `\fB` + esc(k.Name) + `\fR`)
		r.text(sentence(k.Usage))
		var facts []string
		facts = append(facts, k.Kind.String())
		if vs := config.Values[k.Name]; len(vs) > 0 {
			facts = append(facts, "one of "+strings.Join(vs, ", "))
		}
		if d := defaultText(k); d != "" {
			facts = append(facts, "default "+d)
		} else {
			facts = append(facts, "unset by default")
		}
		facts = append(facts, "flag --"+k.Name, "environment "+k.Env())
		r.raw(".br")
		r.text(sentence(strings.Join(facts, "; ")))
	}
	r.raw(".SH EXAMPLE")
	r.raw(".RS 4\n.nf")
	r.text("# count 5 bans in 30 days, skip the web jails, reject rather than drop\n" +
		"threshold = 5\nwindow = \"30d\"\nexclude-jails = [\"recidive\", \"nginx-botsearch\"]\ntarget = \"REJECT\"\n" +
		"ignore = [\"192.0.2.0/24\", \"2001:db8::/32\"]")
	r.raw(".fi\n.RE")
	r.prose("The package installs a commented file with every key and its default, as does " +
		"/usr/share/doc/recidivist/examples/recidivist.toml.")
	r.raw(".SH FILES")
	r.raw(".TP\n.I " + esc(config.DefaultPath))
	r.text("the configuration file")
	r.raw(".SH SEE ALSO")
	r.raw(`\fBrecidivist\fR(8), \fBjail.conf\fR(5)`)
	return r.b.String()
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
