package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/recidivist/recidivist/notify"
)

// notifyKeys are the settings of the notifier.
var notifyKeys = []string{"notify-exec", "notify-exec-timeout", "notify-exec-user", "notify-url", "notify-format", "notify-header", "notify-retry-for", "notify-group-wait", "notify-group-max", "notify-rate"}

func notifyCommand() *cli.Command {
	return command(&cli.Command{
		Name:      "notify",
		Usage:     "send a test notification through the configured notifiers",
		ArgsUsage: "test",
		Description: "notify test sends one synthetic event (event \"test\", prefix 192.0.2.1/32) at once to\n" +
			"notify-exec and notify-url, each tried once, and says what each answered. It does not\n" +
			"touch the daemon's outbox, so it may run beside the daemon.\n\n" +
			"The daemon notifies block (an offender, a ban, a line added by hand) and unblock (an\n" +
			"unban, an expiry, a line deleted by hand) when the mirror changes; never on a restart,\n" +
			"a restore or a repair. A ban or unban made while the daemon is stopped is notified at\n" +
			"its next start.\n\n" +
			"Example:\n" +
			"   recidivist notify test",
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			if c.NArg() != 1 || c.Args().First() != "test" {
				return usageErrorf("notify takes one argument, test: recidivist notify test")
			}
			if !cfg.Notify.Enabled() {
				return usageErrorf("no notifier is configured: set notify-exec or notify-url")
			}
			n, err := notify.New(notify.FromConfig(cfg, slog.Default(), nil))
			if err != nil {
				return err
			}
			var sinks []string
			if len(cfg.Notify.Exec) > 0 {
				sinks = append(sinks, "notify-exec "+cfg.Notify.Exec[0])
			}
			if cfg.Notify.URL != "" {
				sinks = append(sinks, "notify-url")
			}
			ev := notify.Event{Kind: notify.KindTest, Reason: "test", Prefix: "192.0.2.1/32", Jails: []string{"test"}, Time: time.Now().UTC()}
			if err := n.Send(c.Context, ev); err != nil {
				return fmt.Errorf("test notification failed: %w", err)
			}
			fmt.Fprintf(c.App.Writer, "sent a test notification to %s\n", strings.Join(sinks, " and "))
			return nil
		},
	}, append(notifyKeys, "state-dir", "log-level", "log-format")...)
}
