// Package docgen writes recidivist's manual pages, recidivist(8) and
// recidivist.toml(5), and its bash and zsh completion scripts from the
// command definitions and the configuration key table, so that they say
// what --help says. The files it writes are committed under docs/; a test in
// cmd/recidivist compares them with a fresh generation (make man updates
// them).
package docgen

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/config"
)

// flagInfo is what the generators need of one flag.
type flagInfo struct {
	names       []string // as declared: long name first
	usage       string   // without the `placeholder` quotes
	placeholder string   // the value's name, "" for a flag without a value
	def         string   // default as --help shows it, "" for none
	setting     bool     // a configuration key (or --config)
	repeatable  bool     // may be given more than once
}

// flags lists a command's visible flags in declaration order.
func flags(cmd *cli.Command) []flagInfo {
	var out []flagInfo
	for _, f := range cmd.Flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		fi := flagInfo{names: f.Names()}
		if d, ok := f.(cli.DocGenerationFlag); ok {
			fi.usage, fi.placeholder = unquote(d.GetUsage())
			if d.TakesValue() {
				fi.def = d.GetDefaultText()
				if fi.placeholder == "" {
					fi.placeholder = "VALUE"
				}
			} else {
				fi.placeholder = ""
			}
		}
		if s, ok := f.(cli.DocGenerationSliceFlag); ok {
			fi.repeatable = s.IsSliceFlag()
		}
		name := fi.names[0]
		if k, ok := config.KeyNamed(name); ok {
			fi.setting = true
			fi.placeholder = placeholder(k)
		} else if name == "config" {
			fi.setting = true
			fi.placeholder = "FILE"
		}
		out = append(out, fi)
	}
	return out
}

// unquote takes the `word` a usage string marks as the value's name out of
// it, as urfave/cli's help does.
func unquote(usage string) (text, name string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return usage, ""
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return usage, ""
	}
	name = usage[i+1 : i+1+j]
	return usage[:i] + name + usage[i+2+j:], name
}

// placeholder names the value of a configuration key's flag.
func placeholder(k config.Key) string {
	switch k.Kind {
	case config.Bool:
		return ""
	case config.Int:
		return "N"
	case config.Duration:
		return "DURATION"
	}
	switch k.Name {
	case "log", "state-dir":
		return "PATH"
	}
	return strings.ToUpper(strings.ReplaceAll(k.Name, "-", "_"))
}

// pathKind says which flags and arguments name files or directories, for
// the completion: "file", "dir" or "".
func pathKind(flag string) string {
	switch flag {
	case "config", "log":
		return "file"
	case "state-dir":
		return "dir"
	}
	return ""
}

// argsAreFiles says whether a command's arguments are files (scan FILE...).
func argsAreFiles(cmd *cli.Command) bool {
	return strings.Contains(cmd.ArgsUsage, "FILE")
}
