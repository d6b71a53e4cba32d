package docgen

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/config"
)

// Zsh returns the zsh completion function _recidivist: commands with their
// summaries, each command's flags with their help, the values of keys that
// have a fixed set (config.Values), and files where a flag or argument names
// one.
func Zsh(app *cli.App) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("#compdef recidivist\n")
	w("# zsh completion for recidivist(8).\n")
	w("# Generated from the command definitions (internal/docgen); do not edit. Update with: make man\n\n")
	w("_recidivist() {\n")
	w("\tlocal curcontext=$curcontext state line\n")
	w("\tlocal -a commands\n\tcommands=(\n")
	for _, c := range app.VisibleCommands() {
		w("\t\t%s\n", zshQuote(c.Name+":"+c.Usage))
	}
	w("\t)\n")
	w("\t_arguments -C \\\n")
	w("\t\t'(- *)'{-h,--help}'[show help]' \\\n")
	w("\t\t'(- *)'{-v,--version}'[print the version]' \\\n")
	w("\t\t'1: :->command' \\\n")
	w("\t\t'*:: :->args' && return\n\n")
	w("\tcase $state in\n")
	w("\tcommand)\n\t\t_describe -t commands 'recidivist command' commands\n\t\t;;\n")
	w("\targs)\n\t\tcase $words[1] in\n")
	for _, c := range app.VisibleCommands() {
		w("\t\t%s)\n\t\t\t_arguments \\\n", c.Name)
		w("\t\t\t\t'(- *)--help[show help]'")
		for _, f := range flags(c) {
			w(" \\\n\t\t\t\t%s", zshQuote(zshSpec(f)))
		}
		if argsAreFiles(c) {
			w(" \\\n\t\t\t\t%s", zshQuote("*:"+strings.ToLower(c.ArgsUsage)+":_files"))
		}
		w("\n\t\t\t;;\n")
	}
	w("\t\tesac\n\t\t;;\n\tesac\n}\n\n")
	w("_recidivist \"$@\"\n")
	return b.String()
}

// zshSpec is a flag's _arguments specification.
func zshSpec(f flagInfo) string {
	spec := ""
	if f.repeatable {
		spec = "*"
	}
	spec += "--" + f.names[0]
	help := "[" + zshBracket(f.usage) + "]"
	if f.placeholder == "" {
		return spec + help
	}
	action := ""
	switch {
	case len(config.Values[f.names[0]]) > 0:
		action = "(" + strings.Join(config.Values[f.names[0]], " ") + ")"
	case pathKind(f.names[0]) == "file":
		action = "_files"
	case pathKind(f.names[0]) == "dir":
		action = "_files -/"
	}
	return spec + "=" + help + ":" + strings.ToLower(f.placeholder) + ":" + action
}

// zshBracket escapes what ends or breaks an _arguments description.
func zshBracket(s string) string {
	return strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`).Replace(s)
}

// zshQuote quotes s for the shell, in single quotes.
func zshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
