package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/export"
	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/internal/firewalld"
	"github.com/recidivist/recidivist/internal/nfwatch"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/notify"
	"github.com/recidivist/recidivist/statedir"
)

func runCommand() *cli.Command {
	return command(&cli.Command{
		Name:  "run",
		Usage: "run the daemon: follow fail2ban's log and block repeat offenders",
		Description: "run is the daemon (foreground; let systemd supervise it). It ensures the sets and\n" +
			"rules, restores the mirror into the sets, reloads its history, catches up on the log\n" +
			"from its checkpoint (the first start backfills the current and every rotated log, .gz\n" +
			"included), then follows the log. Decisions depend on the line timestamps alone, as\n" +
			"scan's. The kernel is reconciled with the mirror on every change of the mirror file\n" +
			"and every reconcile-interval.\n" +
			"SIGHUP reloads the config and ignore list, log-level, log-format, metrics-listen and\n" +
			"reconcile-interval included; log, state-dir, backend, set-name, chain, target, ports,\n" +
			"maxelem, dry-run and the export-* keys need a restart, and a reload names each of them\n" +
			"it finds changed.\n" +
			"SIGTERM/SIGINT stop cleanly and leave the sets and rules in place: blocks outlive the\n" +
			"daemon.\n\n" +
			"Examples:\n" +
			"   recidivist run\n" +
			"   recidivist run --threshold 5 --window 2w --ban-time 30d\n" +
			"   recidivist run --dry-run --log-level debug",
		Action: func(c *cli.Context) error {
			cfg, logOut, err := settingsAndLog(c)
			if err != nil {
				return err
			}
			// Everything that can be refused is refused before the kernel
			// is touched.
			if err := config.CheckLogs(cfg.Logs); err != nil {
				return err
			}
			if err := statedir.Prepare(cfg.StateDir); err != nil {
				return err
			}
			var store ipsetstore.Store
			if !cfg.DryRun { // a dry run changes no set, so it may watch beside the daemon
				sets, err := daemon.AcquireSets(cfg.SetName, cfg.StateDir)
				if err != nil {
					return err
				}
				defer sets.Release() //nolint:errcheck // the process exits next; the kernel frees the name anyway
				s, err := openStore(cfg)
				if err != nil {
					return err
				}
				store = s
			}
			metrics := daemon.NewMetrics()
			notifyMetrics := notify.NewMetrics()
			var notifier *notify.Notifier
			if !cfg.DryRun { // a dry run changes no mirror: nothing to tell
				if notifier, err = notify.New(notify.FromConfig(cfg, slog.Default(), notifyMetrics)); err != nil {
					return err
				}
			}
			opts := daemon.Options{Store: store, Metrics: metrics, Explain: explainKernel, Notifier: notifier}
			if !cfg.DryRun {
				// Opened here, on the thread that opened the store: the
				// watch follows the same network namespace.
				// Without nf_tables (or the right to listen) the header
				// check and the reconcile interval still repair.
				if w, err := nfwatch.Open(); err != nil {
					slog.Warn("not following nf_tables changes; deleted rules and tables are repaired by the header check every 2s", "err", err)
				} else {
					defer w.Close() //nolint:errcheck // the process exits next
					opts.Watch = w.Run
				}
				// firewalld's Reloaded signal, where a system bus exists:
				// it also covers reloads that send no nf_tables event
				// (firewalld's iptables backend under iptables-legacy).
				opts.Firewalld = (&firewalld.Watcher{}).Run
			}
			d, err := daemon.New(cfg, opts)
			if err != nil {
				return err
			}
			exportMetrics := export.NewMetrics()
			srv := newMetricsServer(metrics, d, append(exportMetrics.Collectors(), notifyMetrics.Collectors()...)...)
			ln, err := listenMetrics(cfg.MetricsListen)
			if err != nil {
				return err
			}
			exp, expSource, err := listenExport(cfg, exportMetrics)
			if err != nil {
				if ln != nil {
					ln.Close() //nolint:errcheck // failing anyway; the listener only has to go
				}
				return err
			}
			reload := d.Reload
			if expSource != nil {
				reload = func(cfg *config.Config) {
					d.Reload(cfg)
					expSource.reload(cfg) // the other export-* settings apply at the next start
				}
			}
			var fl *fleet.Redis
			if cfg.Fleet.On() {
				if fl, err = fleet.Dial(cfg.Fleet.Options()); err != nil {
					return err
				}
				defer fl.Close()
			}
			// Registered before the daemon starts: SIGHUP's default action
			// would kill it.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			slog.Info("recidivist starting", "logs", cfg.Logs, "threshold", cfg.Threshold, "window", config.FormatDuration(cfg.Window), "state_dir", cfg.StateDir, "dry_run", cfg.DryRun)

			// The daemon, the metrics server, the export and the reloader
			// end together: whichever way the daemon returns (stopped, or
			// failed even at its start), the others are stopped and waited
			// for. Only the daemon stops the group: the others return nil.
			ctx, stop := context.WithCancel(c.Context)
			defer stop()
			g, ctx := errgroup.WithContext(ctx)
			g.Go(func() error {
				defer stop()
				return d.Run(ctx)
			})
			g.Go(func() error { return srv.run(ctx, ln) })
			if exp != nil {
				g.Go(func() error { return exp.Serve(ctx) })
			}
			r := &reloader{args: argsOf(c), cfg: cfg, log: logOut, metrics: srv, apply: reload}
			g.Go(func() error { return r.loop(ctx, hup) })
			if fl != nil {
				// Beside the daemon, never in its way: Redis down or slow
				// only delays the fleet's records.
				g.Go(func() error {
					if err := d.RunFleetReader(ctx, fl); err != nil {
						slog.Error("fleet: the reader stopped; blocking goes on without the fleet's records", "err", err)
					}
					return nil // only the daemon stops the group
				})
				if !cfg.DryRun { // a dry run keeps no outbox: nothing to push
					g.Go(func() error {
						if err := d.RunFleetWriter(ctx, fl); err != nil {
							slog.Error("fleet: the writer stopped; blocking goes on, this host's bans wait in its outbox", "err", err)
						}
						return nil // only the daemon stops the group
					})
				}
			}
			if err := g.Wait(); err != nil {
				return explainKernel(err)
			}
			slog.Info("recidivist stopped; sets and rules stay in place")
			return nil
		},
	})
}

// reloader applies a new configuration on SIGHUP: the daemon's keys, the
// log level and format, the metrics address.
type reloader struct {
	args    []string       // the command line, read again with the file and environment
	cfg     *config.Config // in force
	log     *logOutput
	metrics *metricsServer
	apply   func(*config.Config) // the daemon's Reload, and the export's
}

// argsOf is the command line the app was run with.
func argsOf(c *cli.Context) []string {
	args, _ := c.App.Metadata[argsKey].([]string)
	return args
}

// loop reloads at every signal on hup until ctx ends.
func (r *reloader) loop(ctx context.Context, hup <-chan os.Signal) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			r.reload(ctx)
		}
	}
}

// reload re-reads the configuration (file and environment) and applies it;
// a configuration that does not load leaves the old one in force.
func (r *reloader) reload(ctx context.Context) {
	cfg, err := freshConfig(ctx, r.args)
	if err != nil {
		slog.Error("reload: keeping the old configuration", "err", err)
		return
	}
	for _, w := range cfg.Warnings {
		slog.Warn("WARNING: " + w)
	}
	r.log.set(cfg.LogLevel, cfg.LogFormat)
	if cfg.MetricsListen != r.cfg.MetricsListen {
		if err := r.metrics.move(ctx, cfg.MetricsListen); err != nil {
			slog.Error("reload: the metrics stay where they are served", "err", err)
			cfg.MetricsListen = r.cfg.MetricsListen
		}
	}
	r.apply(cfg)
	r.cfg = cfg
}

// freshConfig reads the settings of the command line args anew: flags,
// environment and config file. It parses the whole command line again in a
// new app, because altsrc never overwrites a flag it has filled once, so
// applying the file to the running command's context would change nothing.
func freshConfig(ctx context.Context, args []string) (*config.Config, error) {
	app := newApp(io.Discard, io.Discard)
	var cfg *config.Config
	for _, cmd := range app.Commands {
		cmd.Action = func(c *cli.Context) error {
			var err error
			cfg, err = config.Load(c)
			return err
		}
	}
	if err := app.RunContext(ctx, args); err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("reading the settings of %q: no command ran", args)
	}
	return cfg, nil
}
