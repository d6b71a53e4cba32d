package daemon

import (
	"fmt"
	"slices"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/config"
)

// How a changed key takes effect on reload (SIGHUP).
type reloadHow int

const (
	applied     reloadHow = iota // by the daemon, at once
	byCommand                    // by the command that runs the daemon (logging, metrics), before Reload
	needRestart                  // names a kernel object, a file or a mode: kept as it is until a restart
)

// reloadKeys classifies every configuration key (a test holds it to
// config.Keys): a key added later must say how a reload treats it.
var reloadKeys = map[string]struct {
	how   reloadHow
	value func(*config.Config) any
}{
	"log":                {needRestart, func(c *config.Config) any { return c.Logs }},
	"log-timezone":       {applied, func(c *config.Config) any { return c.Location.String() }},
	"journal-match":      {needRestart, func(c *config.Config) any { return c.JournalMatch }},
	"journal-directory":  {needRestart, func(c *config.Config) any { return c.JournalDirectory }},
	"threshold":          {applied, func(c *config.Config) any { return c.Threshold }},
	"window":             {applied, func(c *config.Config) any { return c.Window }},
	"ban-time":           {applied, func(c *config.Config) any { return c.BanTime }},
	"jails":              {applied, func(c *config.Config) any { return c.Jails }},
	"exclude-jails":      {applied, func(c *config.Config) any { return c.ExcludeJails }},
	"ignore":             {applied, func(c *config.Config) any { return c.Ignore }},
	"set-name":           {needRestart, func(c *config.Config) any { return c.SetName }},
	"chain":              {needRestart, func(c *config.Config) any { return c.Chains }},
	"target":             {needRestart, func(c *config.Config) any { return c.Target }},
	"ports":              {needRestart, func(c *config.Config) any { return c.Ports }},
	"maxelem":            {needRestart, func(c *config.Config) any { return c.MaxElem }},
	"backend":            {needRestart, func(c *config.Config) any { return c.Backend }},
	"iptables-variant":   {needRestart, func(c *config.Config) any { return c.IPTablesVariant }},
	"state-dir":          {needRestart, func(c *config.Config) any { return c.StateDir }},
	"reconcile-interval": {applied, func(c *config.Config) any { return c.ReconcileInterval }},
	"dry-run":            {needRestart, func(c *config.Config) any { return c.DryRun }},
	"log-level":          {byCommand, func(c *config.Config) any { return c.LogLevel }},
	"log-format":         {byCommand, func(c *config.Config) any { return c.LogFormat }},
	"metrics-listen":     {byCommand, func(c *config.Config) any { return c.MetricsListen }},
	// The sampler reads the interval once, at the start; the idle rule at
	// each sample.
	"hit-sample-interval": {needRestart, func(c *config.Config) any { return c.HitSampleInterval }},
	"idle-unblock":        {applied, func(c *config.Config) any { return c.IdleUnblock }},
	"idle-unblock-manual": {applied, func(c *config.Config) any { return c.IdleUnblockManual }},
	// The export server is the command's; it applies the ignore list on
	// reload, and its own keys at the next start.
	"export-listen":     {needRestart, func(c *config.Config) any { return c.ExportListen }},
	"export-token-file": {needRestart, func(c *config.Config) any { return c.ExportTokenFile + "\x00" + c.ExportToken }},
	"export-allow":      {needRestart, func(c *config.Config) any { return c.ExportAllow }},
	// The fleet link is dialled once, at the start.
	"fleet-redis":         {needRestart, func(c *config.Config) any { return c.Fleet.Redis }},
	"fleet-name":          {needRestart, func(c *config.Config) any { return c.Fleet.Name }},
	"fleet-host":          {needRestart, func(c *config.Config) any { return c.Fleet.Host }},
	"fleet-user":          {needRestart, func(c *config.Config) any { return c.Fleet.User }},
	"fleet-password-file": {needRestart, func(c *config.Config) any { return c.Fleet.PasswordFile }},
	"fleet-tls-ca":        {needRestart, func(c *config.Config) any { return c.Fleet.TLSCA }},
	"fleet-accept":        {needRestart, func(c *config.Config) any { return [2]bool{c.Fleet.AcceptBlock, c.Fleet.AcceptUnban} }},
	// The notifier is made once, at the start (its sinks, batching and rate).
	"notify-exec":         {needRestart, func(c *config.Config) any { return c.Notify.Exec }},
	"notify-exec-timeout": {needRestart, func(c *config.Config) any { return c.Notify.ExecTimeout }},
	"notify-exec-user":    {needRestart, func(c *config.Config) any { return c.Notify.ExecUser }},
	"notify-url":          {needRestart, func(c *config.Config) any { return c.Notify.URL }},
	"notify-format":       {needRestart, func(c *config.Config) any { return c.Notify.Format }},
	"notify-header":       {needRestart, func(c *config.Config) any { return c.Notify.Headers }},
	"notify-retry-for":    {needRestart, func(c *config.Config) any { return c.Notify.RetryFor }},
	"notify-group-wait":   {needRestart, func(c *config.Config) any { return c.Notify.GroupWait }},
	"notify-group-max":    {needRestart, func(c *config.Config) any { return c.Notify.GroupMax }},
	"notify-rate":         {needRestart, func(c *config.Config) any { return [2]any{c.Notify.RateCount, c.Notify.RatePer} }},
	// Net escalation is decided afresh at every recorded offender.
	"net-escalation":   {applied, func(c *config.Config) any { return c.Net.On }},
	"net-prefix-v4":    {applied, func(c *config.Config) any { return c.Net.PrefixV4 }},
	"net-threshold-v4": {applied, func(c *config.Config) any { return c.Net.ThreshV4 }},
	"net-prefix-v6":    {applied, func(c *config.Config) any { return c.Net.PrefixV6 }},
	"net-threshold-v6": {applied, func(c *config.Config) any { return c.Net.ThreshV6 }},
	"net-max-ranges":   {applied, func(c *config.Config) any { return c.Net.MaxRanges }},
}

// changedKeys lists, in the order of config.Keys, the keys whose value
// differs between old and cfg, split by how they take effect.
func changedKeys(old, cfg *config.Config) (now, restart []string) {
	for _, k := range config.Keys {
		rk, ok := reloadKeys[k.Name]
		if !ok || fmt.Sprint(rk.value(old)) == fmt.Sprint(rk.value(cfg)) {
			continue
		}
		if rk.how == needRestart {
			restart = append(restart, k.Name)
		} else {
			now = append(now, k.Name)
		}
	}
	return now, restart
}

// keepRestartKeys sets in cfg the values of old for every key that takes
// effect only after a restart.
func keepRestartKeys(cfg, old *config.Config) {
	cfg.Logs, cfg.StateDir, cfg.DryRun = old.Logs, old.StateDir, old.DryRun
	cfg.SetName, cfg.Chains, cfg.Target, cfg.Ports, cfg.MaxElem, cfg.Backend = old.SetName, old.Chains, old.Target, old.Ports, old.MaxElem, old.Backend
	cfg.IPTablesVariant = old.IPTablesVariant
	cfg.ExportListen, cfg.ExportTokenFile, cfg.ExportToken, cfg.ExportAllow = old.ExportListen, old.ExportTokenFile, old.ExportToken, old.ExportAllow
	cfg.Fleet = old.Fleet
	cfg.JournalMatch, cfg.JournalDirectory = old.JournalMatch, old.JournalDirectory
	cfg.Notify = old.Notify
	cfg.HitSampleInterval = old.HitSampleInterval
}

// Reload applies a new configuration (SIGHUP): thresholds, window, ban-time,
// jails, the ignore list, the log's time zone and the reconcile interval
// take effect at once; log-level, log-format and metrics-listen are the
// caller's to apply before. Keys that name kernel objects, files or the
// mode (set-name, chain, target, ports, maxelem, backend, iptables-variant, state-dir, log,
// journal-*, dry-run, export-*, fleet-*, notify-*, hit-sample-interval) keep their value until a restart: each changed one is named
// in a warning.
func (d *Daemon) Reload(cfg *config.Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.cfg
	now, restart := changedKeys(old, cfg)
	if len(restart) > 0 {
		d.log.Warn("reload: these keys changed but take effect only after a restart (systemctl restart recidivist); their old values stay in force", "keys", restart)
	}
	keepRestartKeys(cfg, old)
	d.cfg = cfg
	d.policy = blocklist.Policy{Ignore: cfg.Ignore}
	d.mirror.SetPolicy(d.policy) // lines of newly ignored addresses leave the kernel at the next reconcile
	d.watcher.Reload(d.watcherConfig(cfg))
	if slices.Contains(now, "reconcile-interval") {
		select {
		case d.intervalChanged <- struct{}{}:
		default: // the loop has yet to take the previous change; it reads the latest
		}
	}
	d.log.Info("configuration reloaded", "threshold", cfg.Threshold, "window", config.FormatDuration(cfg.Window), "ignore", len(cfg.Ignore), "changed", now)
}
