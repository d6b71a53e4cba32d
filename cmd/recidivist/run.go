package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/export"
	"github.com/recidivist/recidivist/fleet"
	"github.com/recidivist/recidivist/ipsetstore"
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
			"SIGHUP reloads the config and ignore list; SIGTERM/SIGINT stop cleanly and leave the\n" +
			"sets and rules in place: blocks outlive the daemon.\n\n" +
			"Examples:\n" +
			"   recidivist run\n" +
			"   recidivist run --threshold 5 --window 2w --ban-time 30d\n" +
			"   recidivist run --dry-run --log-level debug",
		Action: func(c *cli.Context) error {
			cfg, err := settings(c)
			if err != nil {
				return err
			}
			// Everything that can be refused is refused before the kernel
			// is touched.
			if err := config.CheckLogs(cfg.Logs); err != nil {
				return err
			}
			if err := daemon.PrepareStateDir(cfg.StateDir); err != nil {
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
			d, err := daemon.New(cfg, daemon.Options{Store: store, Metrics: metrics})
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(c.Context)
			defer cancel()
			exportMetrics := export.NewMetrics()
			exp, expSource, err := listenExport(cfg, exportMetrics)
			if err != nil {
				return err
			}
			if cfg.MetricsListen != "" {
				if err := serveMetrics(ctx, cfg.MetricsListen, metrics, d, exportMetrics.Collectors()...); err != nil {
					return err
				}
			}
			// Registered before the daemon starts: SIGHUP's default action
			// would kill it.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := d.Reload
			if expSource != nil {
				reload = func(cfg *config.Config) {
					d.Reload(cfg)
					expSource.reload(cfg) // the other export-* settings apply at the next start
				}
			}
			go reloadOnHUP(ctx, c, reload, hup)
			if cfg.Fleet.On() {
				f, err := fleet.Dial(cfg.Fleet.Options())
				if err != nil {
					return err
				}
				defer f.Close()
				// Beside the daemon, never in its way: Redis down or slow
				// only delays the fleet's records.
				go d.RunFleetReader(ctx, f) //nolint:errcheck // it returns nil when ctx ends and retries everything else
			}
			slog.Info("recidivist starting", "logs", cfg.Logs, "threshold", cfg.Threshold, "window", config.FormatDuration(cfg.Window), "state_dir", cfg.StateDir, "dry_run", cfg.DryRun)
			if err := runBeside(ctx, d.Run, exp); err != nil {
				return explainKernel(err)
			}
			slog.Info("recidivist stopped; sets and rules stay in place")
			return nil
		},
	})
}

// reloadOnHUP re-reads the configuration (file and environment) on SIGHUP.
func reloadOnHUP(ctx context.Context, c *cli.Context, reload func(*config.Config), hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			args, _ := c.App.Metadata[argsKey].([]string)
			cfg, err := freshConfig(ctx, args)
			if err != nil {
				slog.Error("reload: keeping the old configuration", "err", err)
				continue
			}
			for _, w := range cfg.Warnings {
				slog.Warn("WARNING: " + w)
			}
			reload(cfg)
		}
	}
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

// runBeside runs the daemon, and the export server when there is one, in
// one errgroup: the export stops with the daemon, and never stops it (its
// Serve only returns nil).
func runBeside(ctx context.Context, daemonRun func(context.Context) error, exp *export.Server) error {
	g, gctx := errgroup.WithContext(ctx)
	expCtx, stopExport := context.WithCancel(gctx)
	defer stopExport()
	if exp != nil {
		g.Go(func() error { return exp.Serve(expCtx) })
	}
	g.Go(func() error {
		defer stopExport()
		return daemonRun(gctx)
	})
	return g.Wait()
}

func serveMetrics(ctx context.Context, addr string, m *daemon.Metrics, d *daemon.Daemon, more ...prometheus.Collector) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(m.Collectors()...)
	reg.MustRegister(d.WatcherCollector())
	reg.MustRegister(more...)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &config.Error{Key: "metrics-listen", Value: addr, Allowed: fmt.Sprintf("a free HOST:PORT to listen on (%v)", err)}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("metrics server stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close() //nolint:errcheck // shutting down; nothing left to report to
	}()
	slog.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}
