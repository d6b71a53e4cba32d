package export

import (
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/recidivist/recidivist/blocklist"
	"github.com/recidivist/recidivist/internal/addr"
)

// Source returns the entries of the mirror in force (read through the
// refusal policy), or an error when the mirror cannot be read. The handler
// leaves out the expired ones itself.
type Source func() ([]blocklist.Entry, error)

// Options configure a Handler.
type Options struct {
	Source  Source
	Auth    Auth
	Host    string           // named in the header line
	Now     func() time.Time // default time.Now
	Logger  *slog.Logger     // default slog.Default()
	Metrics *Metrics         // default: a fresh, unregistered set
}

// Handler serves GET /blocklist, /blocklist/v4 and /blocklist/v6.
type Handler struct {
	opt Options
}

// NewHandler returns the export handler.
func NewHandler(opt Options) *Handler {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics()
	}
	return &Handler{opt: opt}
}

// defaultTimeout is the MikroTik timeout of a permanent entry: a router that
// refreshes daily keeps every entry, one whose fetches stop lets them go.
const defaultTimeout = 48 * time.Hour

// query is what a request asks for.
type query struct {
	family    string // "all", "v4" or "v6"
	format    string
	aggregate bool
	limit     int    // 0 = all
	list      string // MikroTik address list
	timeout   time.Duration
}

func parseQuery(r *http.Request) (query, error) {
	q := query{format: formatPlain, list: "recidivist", timeout: defaultTimeout}
	switch r.URL.Path {
	case "/blocklist":
		q.family = "all"
	case "/blocklist/v4":
		q.family = "v4"
	case "/blocklist/v6":
		q.family = "v6"
	default:
		return q, errNotFound
	}
	v := r.URL.Query()
	if f := v.Get("format"); f != "" {
		switch f {
		case formatPlain, formatMirror, formatMikroTik, formatJSON:
			q.format = f
		default:
			return q, fmt.Errorf("format=%q: want plain, mirror, mikrotik or json", f)
		}
	}
	switch a := v.Get("aggregate"); a {
	case "", "0", "false":
	case "1", "true":
		q.aggregate = true
	default:
		return q, fmt.Errorf("aggregate=%q: want 1 or 0", a)
	}
	if q.aggregate && q.format == formatMirror {
		return q, fmt.Errorf("aggregate=1 does not go with format=mirror (the mirror's own lines): use format=plain")
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return q, fmt.Errorf("limit=%q: want a whole number of at least 1", l)
		}
		q.limit = n
	}
	if l := v.Get("list"); l != "" {
		if !validListName(l) {
			return q, fmt.Errorf("list=%q: want 1 to 63 letters, digits, '-', '_' or '.'", l)
		}
		q.list = l
	}
	if t := v.Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d < time.Minute {
			return q, fmt.Errorf("timeout=%q: want a duration of at least 1m like 48h", t)
		}
		q.timeout = d
	}
	return q, nil
}

func validListName(s string) bool {
	if len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

var errNotFound = fmt.Errorf("not found: the paths are /blocklist, /blocklist/v4 and /blocklist/v6")

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := h.opt.Metrics
	switch h.opt.Auth.check(r) {
	case unauthorized:
		m.count(resultUnauthorized)
		w.Header().Set("WWW-Authenticate", `Basic realm="recidivist", charset="UTF-8"`)
		http.Error(w, "unauthorized: send the export token as Bearer or as the Basic password", http.StatusUnauthorized)
		return
	case forbidden:
		m.count(resultForbidden)
		http.Error(w, "forbidden: this address is not in export-allow", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		m.count(resultBadRequest)
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q, err := parseQuery(r)
	if err == errNotFound {
		m.count(resultBadRequest)
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if err != nil {
		m.count(resultBadRequest)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := h.opt.Now()
	entries, err := h.opt.Source()
	if err != nil {
		// Never a 200 with an empty or partial list: a firewall would load
		// it and let everyone in. pfSense and OPNsense keep their old table
		// on an error.
		m.count(resultError)
		h.opt.Logger.Error("export: cannot read the blocklist; answering 503", "err", err)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "the blocklist cannot be read right now; keep the previous copy and try again later", http.StatusServiceUnavailable)
		return
	}
	es := inForce(entries, q.family, now)
	if q.format != formatMirror {
		es = withoutHoles(es)
	}
	total := len(es)
	if q.aggregate {
		es = aggregate(es)
	}
	es = newest(es, q.limit)
	var payload []byte
	if q.format == formatJSON {
		if payload, err = renderJSONEntries(es); err != nil {
			m.count(resultError)
			h.opt.Logger.Error("export: cannot encode the blocklist; answering 503", "err", err)
			http.Error(w, "the blocklist cannot be encoded", http.StatusServiceUnavailable)
			return
		}
	} else {
		payload = renderLines(q, es, now)
	}
	sum := sha256.Sum256(append([]byte(q.format+"\n"), payload...))
	tag := hex.EncodeToString(sum[:16])
	gz := acceptsGzip(r)
	etag := `"` + tag + `"`
	if gz {
		etag = `"` + tag + `-gzip"`
	}
	hdr := w.Header()
	hdr.Set("ETag", etag)
	hdr.Set("Vary", "Accept-Encoding")
	hdr.Set("Cache-Control", "private, max-age=60")
	if matches(r.Header.Get("If-None-Match"), tag) {
		m.count(resultNotModified)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	head := header{Generated: now, Host: h.opt.Host, Family: q.family, Count: len(es), InForce: total, Aggregate: q.aggregate}
	var body []byte
	if q.format == formatJSON {
		if body, err = renderJSON(head, payload); err != nil {
			m.count(resultError)
			http.Error(w, "the blocklist cannot be encoded", http.StatusServiceUnavailable)
			return
		}
		hdr.Set("Content-Type", "application/json")
	} else {
		body = append([]byte(head.line(q.format)), payload...)
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
	}
	m.count(resultServed)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	if !gz {
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body) //nolint:errcheck // the client went away; nothing to do
		return
	}
	hdr.Set("Content-Encoding", "gzip")
	zw := gzip.NewWriter(w)
	zw.Write(body) //nolint:errcheck // the client went away; nothing to do
	zw.Close()     //nolint:errcheck // idem
}

// inForce returns the entries of the family that have not expired by now.
func inForce(entries []blocklist.Entry, family string, now time.Time) []blocklist.Entry {
	out := make([]blocklist.Entry, 0, len(entries))
	for e := range blocklist.InForce(entries, now) {
		if is4 := e.Prefix.Addr().Is4(); family == "v4" && !is4 || family == "v6" && is4 {
			continue
		}
		out = append(out, e)
	}
	return out
}

// withoutHoles replaces each net range with holes (addresses unbanned
// inside it, which the kernel lets through) by the prefixes of the range
// outside them: a firewall fed the range whole would go on blocking them.
// The mirror format keeps the mirror's own line, holes= and all.
func withoutHoles(es []blocklist.Entry) []blocklist.Entry {
	if !slices.ContainsFunc(es, func(e blocklist.Entry) bool { return e.Net && len(e.Holes) > 0 }) {
		return es
	}
	out := make([]blocklist.Entry, 0, len(es))
	for _, e := range es {
		if !e.Net || len(e.Holes) == 0 {
			out = append(out, e)
			continue
		}
		for _, p := range addr.Subtract(e.Prefix, addr.Cover(e.Holes)) {
			piece := e
			piece.Prefix, piece.Holes = p, nil
			out = append(out, piece)
		}
	}
	return out
}

// newest keeps the limit entries added last (all when limit is 0), in
// their order: for consumers capped at a number of entries (AWS WAF's
// 10,000), the recent offenders matter most. An entry without a time is
// older than any with one.
func newest(es []blocklist.Entry, limit int) []blocklist.Entry {
	if limit == 0 || len(es) <= limit {
		return es
	}
	idx := make([]int, len(es))
	for i := range idx {
		idx[i] = i
	}
	// Newest first; among equal times (bans within one second) the line
	// appended later is the newer.
	slices.SortFunc(idx, func(a, b int) int {
		if c := es[b].Added.Compare(es[a].Added); c != 0 {
			return c
		}
		return cmp.Compare(b, a)
	})
	idx = idx[:limit]
	slices.SortFunc(idx, cmp.Compare[int])
	out := make([]blocklist.Entry, 0, limit)
	for _, i := range idx {
		out = append(out, es[i])
	}
	return out
}

// acceptsGzip reports whether the client takes a gzip body.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if c := strings.TrimSpace(coding); !strings.EqualFold(c, "gzip") && !strings.EqualFold(c, "x-gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// matches reports whether an If-None-Match header names the tag, in either
// encoding's spelling, weak or strong, or is "*".
func matches(inm, tag string) bool {
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == `"`+tag+`"` || t == `"`+tag+`-gzip"` {
			return true
		}
	}
	return false
}
