package docgen

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/config"
)

// Manual returns recidivist(8): every command with its arguments,
// description and flags, then every setting once, as the app declares them.
func Manual(app *cli.App) string {
	var r roff
	r.raw(`.\" Generated from the command definitions (internal/docgen); do not edit. Update with: make man`)
	r.macro("TH", "RECIDIVIST", "8", "", "recidivist", "System Administration")
	r.raw(".SH NAME")
	r.text(app.Name + " - " + app.Usage)
	r.raw(".SH SYNOPSIS")
	r.raw(`\fBrecidivist\fR \fICOMMAND\fR [\fIOPTIONS\fR] [\fIARGUMENTS\fR]`)
	r.raw(".br")
	r.raw(`\fBrecidivist\fR \fICOMMAND\fR \fB\-\-help\fR`)
	r.raw(".br")
	r.raw(`\fBrecidivist\fR \fB\-\-version\fR`)
	r.raw(".SH DESCRIPTION")
	r.prose(app.Description)
	r.prose("Options may come before, after or between a command's arguments. " +
		"Each command reads only the settings it needs; they are listed with the command and described under SETTINGS.")

	r.raw(".SH COMMANDS")
	used := map[string]bool{}
	for _, cmd := range app.VisibleCommands() {
		head := "recidivist " + cmd.Name + " [options]"
		if cmd.ArgsUsage != "" {
			head += " " + cmd.ArgsUsage
		}
		r.macro("SS", head)
		r.text(sentence(cmd.Usage))
		r.prose(cmd.Description)
		var settings []string
		var own []flagInfo
		for _, f := range flags(cmd) {
			if f.setting {
				settings = append(settings, `\fB\-\-`+esc(f.names[0])+`\fR`)
				used[f.names[0]] = true
				continue
			}
			own = append(own, f)
		}
		if len(own) > 0 {
			r.raw(".PP\nOptions:")
			r.raw(".RS 4")
			for _, f := range own {
				r.option(f, withDefault(f.usage, f.def))
			}
			r.raw(".RE")
		}
		if len(settings) > 0 {
			r.raw(".PP\nSettings: " + strings.Join(settings, ", ") + ".")
		}
	}

	r.raw(".SH SETTINGS")
	r.prose("Every setting is a key of the configuration file, a flag and an environment variable " +
		"RECIDIVIST_KEY (upper case, \"-\" becomes \"_\"): a flag beats the environment, which beats the file, " +
		"which beats the default. recidivist.toml(5) describes the keys in full. " +
		"Durations are fail2ban's: \"600\", \"90s\", \"10m\", \"1w2d\"; lists are given as repeated flags or comma-separated values.")
	r.raw(".TP\n" + `\fB\-\-config\fR \fIFILE\fR`)
	r.text("TOML configuration file (default: " + config.DefaultPath + "; environment RECIDIVIST_CONFIG). A missing file at the default path is not an error.")
	for _, k := range config.Keys {
		if !used[k.Name] {
			continue
		}
		r.option(flagInfo{names: []string{k.Name}, placeholder: placeholder(k)},
			withDefault(k.Usage, defaultText(k))+" Environment: "+k.Env()+".")
	}

	r.raw(".SH GLOBAL OPTIONS")
	for _, f := range []cli.Flag{cli.HelpFlag, cli.VersionFlag} {
		d := f.(cli.DocGenerationFlag)
		r.option(flagInfo{names: f.Names()}, d.GetUsage())
	}

	r.raw(".SH EXIT STATUS")
	r.raw(".TP\n.B 0\nsuccess (for check: no problem found)")
	r.raw(".TP\n.B 1\na runtime failure (for check: problems found, each with its fix)")
	r.raw(".TP\n.B 2")
	r.text("bad usage or configuration: an unknown command or flag, a bad value; the message names the key, file or line at fault")

	r.raw(".SH FILES")
	r.raw(".TP\n.I " + esc(config.DefaultPath))
	r.text("the configuration file, see recidivist.toml(5)")
	r.raw(".TP\n" + `.I /var/lib/recidivist/blocklist`)
	r.text("the mirror: one blocked address or range a line, restored at boot; a human may edit it (state-dir sets the directory)")
	r.raw(".TP\n" + `.I /var/lib/recidivist/`)
	r.text("the state directory: mirror, history, checkpoint and lock, created 0700")

	r.raw(".SH SEE ALSO")
	r.raw(`\fBrecidivist.toml\fR(5), \fBfail2ban\-client\fR(1), \fBipset\fR(8), \fBiptables\fR(8), \fBsystemd.service\fR(5)`)
	return r.b.String()
}

func withDefault(usage, def string) string {
	if def == "" {
		return usage
	}
	return fmt.Sprintf("%s (default: %s)", usage, def)
}

// defaultText writes a key's default as a TOML value, or "" when it has none.
func defaultText(k config.Key) string {
	if len(k.Default) == 0 {
		return ""
	}
	switch k.Kind {
	case config.Int, config.Bool:
		return k.Default[0]
	case config.Strings:
		q := make([]string, len(k.Default))
		for i, d := range k.Default {
			q[i] = fmt.Sprintf("%q", d)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprintf("%q", k.Default[0])
}
