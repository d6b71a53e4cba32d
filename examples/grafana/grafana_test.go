// Package grafana_test checks recidivist.json, the example Grafana
// dashboard: that it imports cleanly (valid JSON in Grafana's dashboard
// model, one Prometheus data source input) and that its queries name exactly
// the metrics the daemon exposes — every query an existing metric, every
// metric in some panel.
package grafana_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/recidivist/recidivist/config"
	"github.com/recidivist/recidivist/daemon"
	"github.com/recidivist/recidivist/export"
	"github.com/recidivist/recidivist/ipsetstore"
	"github.com/recidivist/recidivist/ipsetstore/ipsettest"
	"github.com/recidivist/recidivist/notify"
)

const dashboardFile = "recidivist.json"

// dsInput is the data source input the importer asks for.
const dsInput = "DS_PROMETHEUS"

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	Requires []struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"__requires"`
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string     `json:"name"`
			Type       string     `json:"type"`
			Datasource datasource `json:"datasource"`
			Definition string     `json:"definition"`
			Query      struct {
				Query string `json:"query"`
			} `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Datasource datasource `json:"datasource"`
	Targets    []struct {
		RefID      string     `json:"refId"`
		Expr       string     `json:"expr"`
		Datasource datasource `json:"datasource"`
	} `json:"targets"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// wantDS is the data source every panel, target and variable must use: the
// one the importer asks for.
var wantDS = datasource{Type: "prometheus", UID: "${" + dsInput + "}"}

func load(t *testing.T) (*dashboard, []byte) {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	return &d, raw
}

func TestDashboard_is_a_grafana_dashboard_that_imports_with_one_prometheus_input(t *testing.T) {
	d, raw := load(t)
	if len(d.Inputs) != 1 || d.Inputs[0].Name != dsInput || d.Inputs[0].Type != "datasource" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs = %+v, want the one Prometheus data source input %s", d.Inputs, dsInput)
	}
	if d.Title == "" || d.UID == "" || len(d.UID) > 40 {
		t.Errorf("title %q, uid %q: both are needed and a uid has at most 40 characters", d.Title, d.UID)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: data sources as {type, uid} need 36 or later", d.SchemaVersion)
	}
	if len(d.Panels) == 0 {
		t.Fatal("no panels")
	}

	required := map[string]bool{}
	for _, r := range d.Requires {
		required[r.Type+"/"+r.ID] = true
	}
	if !required["datasource/prometheus"] {
		t.Error("__requires does not list the prometheus data source")
	}
	ids, titles := map[int]string{}, map[string]bool{}
	for i, p := range d.Panels {
		if p.ID <= 0 || ids[p.ID] != "" {
			t.Errorf("panel %q has id %d, want a positive id no other panel has (%q has it)", p.Title, p.ID, ids[p.ID])
		}
		ids[p.ID] = p.Title
		if p.Title == "" || p.Type == "" || titles[p.Title] {
			t.Errorf("panel %d: title %q, type %q: both are needed, and the title only once", p.ID, p.Title, p.Type)
		}
		titles[p.Title] = true
		if !required["panel/"+p.Type] {
			t.Errorf("panel %q: its type %q is not in __requires", p.Title, p.Type)
		}
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v does not fit the 24-column grid", p.Title, g)
		}
		for _, q := range d.Panels[:i] {
			if overlap(p, q) {
				t.Errorf("panels %q and %q overlap", p.Title, q.Title)
			}
		}
		if p.Datasource != wantDS {
			t.Errorf("panel %q: datasource %+v, want %+v", p.Title, p.Datasource, wantDS)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" || refs[q.RefID] {
				t.Errorf("panel %q: target %q has an empty expr or a missing or repeated refId", p.Title, q.RefID)
			}
			refs[q.RefID] = true
			if q.Datasource != wantDS {
				t.Errorf("panel %q, target %s: datasource %+v, want %+v", p.Title, q.RefID, q.Datasource, wantDS)
			}
		}
	}

	// Every ${name} and $name is the input, a variable of the dashboard or
	// one of Grafana's own ($__rate_interval, $__range, ...).
	defined := map[string]bool{dsInput: true}
	for _, v := range d.Templating.List {
		defined[v.Name] = true
		if v.Type == "query" && v.Datasource != wantDS {
			t.Errorf("variable %q: datasource %+v, want %+v", v.Name, v.Datasource, wantDS)
		}
	}
	undefined := map[string]int{}
	for _, m := range regexp.MustCompile(`\$\{?(\w+)`).FindAllStringSubmatch(string(raw), -1) {
		if name := m[1]; !defined[name] && !strings.HasPrefix(name, "__") {
			undefined[name]++
		}
	}
	for name, n := range undefined {
		t.Errorf("$%s (used %d times) is neither the input nor a variable of the dashboard", name, n)
	}
}

func overlap(p, q panel) bool {
	a, b := p.GridPos, q.GridPos
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

// query is a PromQL expression of the dashboard and where it is.
type query struct{ where, expr string }

// queries lists every PromQL expression of the dashboard, panels first.
func queries(t *testing.T, d *dashboard) []query {
	t.Helper()
	var qs []query
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			qs = append(qs, query{fmt.Sprintf("panel %q, query %s", p.Title, q.RefID), q.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if v.Query.Query != v.Definition {
			t.Errorf("variable %q: query %q and definition %q differ", v.Name, v.Query.Query, v.Definition)
		}
		expr, err := variableExpr(v.Query.Query)
		if err != nil {
			t.Errorf("variable %q: %v", v.Name, err)
			continue
		}
		qs = append(qs, query{fmt.Sprintf("variable %q", v.Name), expr})
	}
	return qs
}

// variableExpr returns the PromQL inside a Prometheus variable query:
// label_values(SELECTOR, LABEL), label_values(LABEL) (none),
// query_result(EXPR) or metrics(REGEX) (refused: it names no metric).
func variableExpr(q string) (string, error) {
	q = strings.TrimSpace(q)
	if m := regexp.MustCompile(`^label_values\((.*),\s*\w+\s*\)$`).FindStringSubmatch(q); m != nil {
		return m[1], nil
	}
	if regexp.MustCompile(`^label_values\(\s*\w+\s*\)$`).MatchString(q) {
		return "", nil
	}
	if m := regexp.MustCompile(`^query_result\((.*)\)$`).FindStringSubmatch(q); m != nil {
		return m[1], nil
	}
	return "", fmt.Errorf("query %q: want label_values(SELECTOR, LABEL) or query_result(EXPR)", q)
}

func TestDashboard_queries_only_metrics_the_daemon_exposes(t *testing.T) {
	d, _ := load(t)
	exposed := exposedMetrics(t)
	for _, q := range queries(t, d) {
		names, err := metricNames(q.expr)
		if err != nil {
			t.Errorf("%s: %v in %s", q.where, err, q.expr)
			continue
		}
		if len(names) == 0 && strings.HasPrefix(q.where, "panel") {
			t.Errorf("%s names no metric: %s", q.where, q.expr)
		}
		for _, n := range names {
			if _, ok := exposed.lookup(n); !ok {
				t.Errorf("%s uses %s, which the daemon does not expose (it has %s)", q.where, n, exposed)
			}
		}
	}
}

func TestDashboard_shows_every_metric_the_daemon_exposes(t *testing.T) {
	d, _ := load(t)
	exposed := exposedMetrics(t)
	shown := map[string]bool{}
	for _, q := range queries(t, d) {
		names, err := metricNames(q.expr)
		if err != nil {
			continue // reported by TestDashboard_queries_only_metrics_the_daemon_exposes
		}
		for _, n := range names {
			if family, ok := exposed.lookup(n); ok {
				shown[family] = true
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(exposed)) {
		if !shown[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

// metrics maps each metric family the daemon exposes to its type; a type
// is known only for families that have a sample before any line is read.
type metrics map[string]dto.MetricType

// lookup returns the family a series name belongs to: the name itself, or
// for NAME_bucket, NAME_sum and NAME_count, the histogram NAME.
func (m metrics) lookup(series string) (string, bool) {
	if _, ok := m[series]; ok {
		return series, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if stem, ok := strings.CutSuffix(series, suffix); ok && m[stem] == dto.MetricType_HISTOGRAM {
			return stem, true
		}
	}
	return "", false
}

func (m metrics) String() string { return strings.Join(slices.Sorted(maps.Keys(m)), ", ") }

var fqName = regexp.MustCompile(`fqName: "([^"]*)"`)

// exposedMetrics lists the metrics `recidivist run --metrics-listen` serves
// (beside the Go runtime's and the process's): the daemon's own and its
// watcher's, each named by its Desc, typed by a Gather.
func exposedMetrics(t *testing.T) metrics {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Defaults() // what a command gets with no flag, variable or file
	cfg.Logs = []string{filepath.Join(dir, "fail2ban.log")}
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Location = time.UTC
	if err := os.Mkdir(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	fake, err := ipsettest.New(ipsetstore.Config{SetName: cfg.SetName, Chains: cfg.Chains, Target: cfg.Target, MaxElem: cfg.MaxElem})
	if err != nil {
		t.Fatal(err)
	}
	m := daemon.NewMetrics()
	d, err := daemon.New(cfg, daemon.Options{Store: fake, Metrics: m, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	collectors := append(m.Collectors(), d.WatcherCollector(), d.FleetCollector())
	collectors = append(collectors, export.NewMetrics().Collectors()...) // run registers them beside the daemon's
	collectors = append(collectors, notify.NewMetrics().Collectors()...) // and these

	exposed := metrics{}
	for _, c := range collectors {
		descs := make(chan *prometheus.Desc)
		go func() {
			c.Describe(descs)
			close(descs)
		}()
		for desc := range descs {
			match := fqName.FindStringSubmatch(desc.String())
			if match == nil || match[1] == "" {
				t.Fatalf("no fqName in %s", desc)
			}
			exposed[match[1]] = dto.MetricType_UNTYPED
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering the daemon's metrics: %v", err)
	}
	for _, f := range families {
		exposed[f.GetName()] = f.GetType()
	}
	if exposed["recidivist_block_latency_seconds"] != dto.MetricType_HISTOGRAM {
		t.Fatalf("the latency histogram is missing or not a histogram: %v", exposed)
	}
	return exposed
}

// PromQL words that are never metric names: binary and set operators,
// modifiers, aggregation operators (they can precede a by/without clause
// instead of their parenthesis) and the float literals.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "offset": true,
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "group": true, "stddev": true, "stdvar": true,
	"topk": true, "bottomk": true, "quantile": true, "count_values": true, "limitk": true, "limit_ratio": true,
	"inf": true, "nan": true,
}

// labelListers are the keywords followed by a parenthesised list of label
// names (group_left and group_right only optionally).
var labelListers = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

var errSyntax = errors.New("cannot read the expression")

// metricNames returns the series names an expression selects, in order of
// first appearance: identifiers that are not keywords, functions (followed
// by a parenthesis), label names (inside {} or in a by/without/on/ignoring
// list), nor inside strings, ranges ([5m], [$__rate_interval]) or Grafana
// variables; plus the value of a {__name__="..."} matcher.
func metricNames(expr string) ([]string, error) {
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var parens, braces int
	labelList := false // inside the (...) after a labelLister
	labelListDepth := 0
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#': // a comment runs to the end of the line
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '$': // a Grafana variable: $name or ${name...}
			i++
			if i < len(expr) && expr[i] == '{' {
				end := strings.IndexByte(expr[i:], '}')
				if end < 0 {
					return nil, fmt.Errorf("%w: unclosed ${ at %d", errSyntax, i-1)
				}
				i += end + 1
			} else {
				i = identEnd(expr, i)
			}
		case c == '[': // a range or subquery: durations and variables only
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("%w: unclosed [ at %d", errSyntax, i)
			}
			i += end + 1
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(expr) && expr[i+1] >= '0' && expr[i+1] <= '9':
			// A number or a duration (5m, 1h30m, 0x1f, 1e-3).
			for i < len(expr) && (isIdentByte(expr[i]) || expr[i] == '.' ||
				(expr[i] == '-' || expr[i] == '+') && (expr[i-1] == 'e' || expr[i-1] == 'E')) {
				i++
			}
		case isIdentStart(c):
			end := identEnd(expr, i)
			word := expr[i:end]
			i = end
			next := skipBlanks(expr, i)
			lower := strings.ToLower(word)
			switch {
			case braces > 0:
				if word == "__name__" {
					n, end, err := nameMatcher(expr, next)
					if err != nil {
						return nil, err
					}
					add(n)
					i = end
				}
			case labelList:
			case labelListers[lower]:
				if next < len(expr) && expr[next] == '(' {
					labelList, labelListDepth = true, parens+1
				}
			case promqlKeywords[lower]:
			case next < len(expr) && expr[next] == '(':
				// a function call
			default:
				add(word)
			}
		case c == '{':
			braces++
			i++
		case c == '}':
			if braces--; braces < 0 {
				return nil, fmt.Errorf("%w: unmatched } at %d", errSyntax, i)
			}
			i++
		case c == '(':
			parens++
			i++
		case c == ')':
			if labelList && parens == labelListDepth {
				labelList = false
			}
			if parens--; parens < 0 {
				return nil, fmt.Errorf("%w: unmatched ) at %d", errSyntax, i)
			}
			i++
		case strings.IndexByte("+-*/%^=!<>~,@:", c) >= 0:
			i++
		default:
			return nil, fmt.Errorf("%w: unexpected %q at %d", errSyntax, c, i)
		}
	}
	if parens != 0 || braces != 0 {
		return nil, fmt.Errorf("%w: unbalanced parentheses or braces", errSyntax)
	}
	return names, nil
}

// nameMatcher reads `= "NAME"` at i, after a __name__ label; other match
// operators select names the test cannot check.
func nameMatcher(expr string, i int) (string, int, error) {
	if i >= len(expr) || expr[i] != '=' || i+1 < len(expr) && expr[i+1] == '~' {
		return "", 0, fmt.Errorf("%w: only __name__=\"...\" can be checked, at %d", errSyntax, i)
	}
	start := skipBlanks(expr, i+1)
	end, err := skipString(expr, start)
	if err != nil {
		return "", 0, err
	}
	return expr[start+1 : end-1], end, nil
}

// skipString returns the index just past the string literal at i.
func skipString(expr string, i int) (int, error) {
	if i >= len(expr) || strings.IndexByte("\"'`", expr[i]) < 0 {
		return 0, fmt.Errorf("%w: want a string at %d", errSyntax, i)
	}
	quote := expr[i]
	for j := i + 1; j < len(expr); j++ {
		switch {
		case expr[j] == '\\' && quote != '`':
			j++
		case expr[j] == quote:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("%w: unclosed string at %d", errSyntax, i)
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentByte(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func identEnd(expr string, i int) int {
	for i < len(expr) && isIdentByte(expr[i]) {
		i++
	}
	return i
}

func skipBlanks(expr string, i int) int {
	for i < len(expr) && strings.IndexByte(" \t\r\n", expr[i]) >= 0 {
		i++
	}
	return i
}

func TestMetricNames_finds_the_series_a_promql_expression_selects(t *testing.T) {
	cases := []struct {
		name string
		expr string
		want []string
	}{
		{"a_bare_metric_is_a_name", "up", []string{"up"}},
		{"functions_and_aggregations_are_not_names", `sum(rate(a_total[5m]))`, []string{"a_total"}},
		{"by_labels_are_not_names_before_or_after_the_body", `sum by (jail, instance) (rate(a_total[5m])) + sum(b) without (set)`, []string{"a_total", "b"}},
		{"matchers_label_names_and_values_are_not_names", `a{job="x", instance=~"$instance", set!~"b.*"}`, []string{"a"}},
		{"grafana_variables_in_ranges_are_skipped", `rate(a[$__rate_interval]) / ${factor}`, []string{"a"}},
		{"histogram_quantile_over_buckets", `histogram_quantile(0.99, sum by (le) (rate(h_bucket{x="1"}[1m])))`, []string{"h_bucket"}},
		{"vector_matching_labels_are_not_names", `a / on(instance) group_left(set) b * ignoring (x) c - d * on(i) group_right e`, []string{"a", "b", "c", "d", "e"}},
		{"offset_durations_and_numbers_are_not_names", `a offset 1h30m > 1e-3 and b @ end() or c > 0x1F`, []string{"a", "b", "c"}},
		{"strings_hold_no_names", `label_replace(a, "dst", "$1 fake_metric", "src", "(.*)")`, []string{"a"}},
		{"a_subquery_keeps_its_inner_names", `max_over_time(rate(a[5m])[1h:1m])`, []string{"a"}},
		{"keywords_are_case_insensitive_literals_too", `a > bool Inf or b == NaN`, []string{"a", "b"}},
		{"a_name_matcher_is_a_name", `{__name__="a", job="x"} + b`, []string{"a", "b"}},
		{"each_name_is_listed_once", `a + a`, []string{"a"}},
		{"a_comment_holds_no_names", "a # and not_this\n+ b", []string{"a", "b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := metricNames(c.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("metricNames(%s) = %q, want %q", c.expr, got, c.want)
			}
		})
	}
}

func TestMetricNames_refuses_what_it_cannot_read(t *testing.T) {
	for _, expr := range []string{
		`sum(rate(a[5m])`,
		`a{job="x"`,
		`a{job="x}`,
		`rate(a[5m)`,
		`{__name__=~"recidivist_.*"}`,
		`a ; b`,
	} {
		if _, err := metricNames(expr); !errors.Is(err, errSyntax) {
			t.Errorf("metricNames(%s): err = %v, want errSyntax", expr, err)
		}
	}
}
