package docgen

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/config"
)

// Bash returns the bash completion script: commands, each command's flags,
// the values of keys that have a fixed set (config.Values), and files where a
// flag or argument names one. It needs only bash (not the bash-completion
// helpers), so that it works, and is tested, where they are missing.
func Bash(app *cli.App) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	var commands []string
	for _, c := range app.VisibleCommands() {
		commands = append(commands, c.Name)
	}
	w("# bash completion for recidivist(8).\n")
	w("# Generated from the command definitions (internal/docgen); do not edit. Update with: make man\n\n")
	w("_recidivist() {\n")
	w("\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=\n")
	w("\t((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}\n")
	w("\t# --flag=value: bash splits it at the \"=\".\n")
	w("\tif [[ $cur == = ]]; then\n\t\tcur=\n\telif [[ $prev == = ]] && ((COMP_CWORD > 1)); then\n\t\tprev=${COMP_WORDS[COMP_CWORD-2]}\n\tfi\n")
	w("\tlocal cmd= i\n")
	w("\tfor ((i = 1; i < COMP_CWORD; i++)); do\n")
	w("\t\tcase ${COMP_WORDS[i]} in\n\t\t-*) ;;\n\t\t*) cmd=${COMP_WORDS[i]}; break ;;\n\t\tesac\n\tdone\n\n")

	// Values of the flag just typed.
	valueFlags := map[string]string{} // flag → case body
	var free []string
	for _, c := range app.VisibleCommands() {
		for _, f := range flags(c) {
			if f.placeholder == "" {
				continue
			}
			name := "--" + f.names[0]
			if _, seen := valueFlags[name]; seen || slices.Contains(free, name) {
				continue
			}
			switch {
			case len(config.Values[f.names[0]]) > 0:
				valueFlags[name] = fmt.Sprintf("COMPREPLY=($(compgen -W %q -- \"$cur\"))", strings.Join(config.Values[f.names[0]], " "))
			case pathKind(f.names[0]) == "file":
				valueFlags[name] = "compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\"))"
			case pathKind(f.names[0]) == "dir":
				valueFlags[name] = "compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$cur\"))"
			default:
				free = append(free, name)
			}
		}
	}
	w("\tcase $prev in\n")
	for _, name := range slices.Sorted(maps.Keys(valueFlags)) {
		w("\t%s)\n\t\t%s\n\t\treturn\n\t\t;;\n", name, valueFlags[name])
	}
	if len(free) > 0 {
		slices.Sort(free)
		w("\t%s)\n\t\treturn # a value of the user's own\n\t\t;;\n", strings.Join(free, " | "))
	}
	w("\tesac\n\n")

	w("\tif [[ -z $cmd ]]; then\n")
	w("\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n", strings.Join(commands, " ")+" --help --version")
	w("\t\treturn\n\tfi\n")
	w("\tlocal opts= files=\n\tcase $cmd in\n")
	for _, c := range app.VisibleCommands() {
		opts := []string{"--help"}
		for _, f := range flags(c) {
			opts = append(opts, "--"+f.names[0])
		}
		w("\t%s)\n\t\topts=%q\n", c.Name, strings.Join(opts, " "))
		if argsAreFiles(c) {
			w("\t\tfiles=1\n")
		}
		w("\t\t;;\n")
	}
	w("\tesac\n")
	w("\tif [[ $cur == -* || -z $files ]]; then\n")
	w("\t\tCOMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n")
	w("\telse\n\t\tcompopt -o filenames 2>/dev/null\n\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\tfi\n")
	w("}\n\ncomplete -F _recidivist recidivist\n")
	return b.String()
}
