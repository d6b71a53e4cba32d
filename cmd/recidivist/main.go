// Command recidivist blocks fail2ban's repeat offenders for good: it counts
// Ban lines per address across all jails over a window and keeps offenders in
// one shared ipset matched by one iptables rule, mirrored to a plain-text file
// that is restored at boot.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/config"
)

func main() {
	ctx, stop := notifyContext(context.Background())
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the process exit status:
// 0 success, 1 runtime failure, 2 bad usage or configuration, 128 plus the
// signal's number for a command that SIGINT (130) or SIGTERM (143) stopped
// before it finished (the daemon stopping cleanly on them exits 0).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	app.Metadata = map[string]any{argsKey: args}
	err := app.RunContext(ctx, interspersed(app, args))
	if err == nil {
		return 0
	}
	var exit cli.ExitCoder
	var cfgErr *config.Error
	var fileErr *config.FileError
	code := 1
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case errors.As(err, &cfgErr), errors.As(err, &fileErr), errors.Is(err, errUsage):
		code = 2
	}
	if status, sig, ok := interruptStatus(ctx); ok {
		fmt.Fprintf(stderr, "recidivist: stopped by %s before it finished: %v\n", signalName(sig), err)
		return status
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(stderr, "recidivist: %s\n", msg)
	}
	return code
}

// interspersed moves the options of a command before its arguments, so that
// `recidivist ban 203.0.113.7 --comment "…"` works as PRODUCT.md writes it:
// urfave/cli v2 stops reading options at the first argument. Everything
// after a "--" stays where it is.
func interspersed(app *cli.App, args []string) []string {
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		i++ // global options (--help, --version) before the command
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return args
	}
	for i+1 < len(args) && cmd.Command(args[i+1]) != nil {
		i++ // a subcommand (fleet init): its options are the ones to move
		cmd = cmd.Command(args[i])
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		tv, ok := f.(interface{ TakesValue() bool })
		for _, n := range f.Names() {
			takesValue[n] = !ok || tv.TakesValue()
		}
	}
	var opts, rest []string
	tail := args[i+1:]
	for j := 0; j < len(tail); j++ {
		a := tail[j]
		switch {
		case a == "--":
			rest = append(rest, tail[j:]...)
			j = len(tail)
		case len(a) > 1 && a[0] == '-':
			opts = append(opts, a)
			name := strings.TrimLeft(a, "-")
			if takesValue[name] && !strings.Contains(a, "=") && j+1 < len(tail) {
				j++
				opts = append(opts, tail[j])
			}
		default:
			rest = append(rest, a)
		}
	}
	out := append(slices.Clone(args[:i+1]), opts...)
	return append(out, rest...)
}

// argsKey is where the app keeps its command line, for the reload on SIGHUP.
const argsKey = "args"

// errUsage marks errors in how a command was called (exit status 2).
var errUsage = errors.New("bad usage")

func usageErrorf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	b := readBuild()
	cli.VersionPrinter = func(cCtx *cli.Context) {
		fmt.Fprintln(cCtx.App.Writer, b)
	}
	return &cli.App{
		Name:    "recidivist",
		Usage:   "block fail2ban's repeat offenders for good, in one ipset, across reboots",
		Version: b.version,
		Description: "recidivist reads fail2ban's log, counts Ban lines per address across all jails over a\n" +
			"sliding window, and blocks repeat offenders in one shared ipset matched by one iptables\n" +
			"rule (and one ip6tables rule). The blocklist is mirrored to a plain-text file that is\n" +
			"restored at boot. Settings come from flags, RECIDIVIST_* environment variables and\n" +
			config.DefaultPath + ", in that order.",
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		ExitErrHandler:       func(*cli.Context, error) {}, // run() prints errors and picks the exit status
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return flagError(err, nil, "recidivist --help")
		},
		Action: noCommand,
		Commands: []*cli.Command{
			runCommand(),
			restoreCommand(),
			statusCommand(),
			listCommand(),
			offendersCommand(),
			banCommand(),
			unbanCommand(),
			scanCommand(),
			checkCommand(),
			notifyCommand(),
			teardownCommand(),
			migrateCommand(),
			fleetCommand(),
		},
	}
}

// command fills in what every command shares: the settings flags, the config
// file hook, usage errors with exit status 2.
func command(cmd *cli.Command, keys ...string) *cli.Command {
	cmd.Flags = append(cmd.Flags, config.Flags(keys...)...)
	cmd.Before = config.Apply
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return flagError(err, cmd.Flags, "recidivist "+cmd.Name+" --help")
	}
	return cmd
}

// settings loads the validated configuration and sets up logging from it.
func settings(c *cli.Context) (*config.Config, error) {
	cfg, _, err := settingsAndLog(c)
	return cfg, err
}

// settingsAndLog is settings that also returns the log output, whose level
// and format a reload changes.
func settingsAndLog(c *cli.Context) (*config.Config, *logOutput, error) {
	cfg, err := config.Load(c)
	if err != nil {
		return nil, nil, err
	}
	out := newLogOutput(c.App.ErrWriter, cfg.LogLevel, cfg.LogFormat)
	slog.SetDefault(slog.New(out.handler()))
	for _, w := range cfg.Warnings {
		slog.Warn("WARNING: " + w)
	}
	return cfg, out, nil
}
