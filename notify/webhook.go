package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Formats of the webhook's body.
const (
	FormatJSON  = "json"  // a JSON array of events
	FormatSlack = "slack" // {"text": …}: Slack, Mattermost, Rocket.Chat
	FormatText  = "text"  // plain text, a line per event (ntfy and the like)
)

// webhook POSTs each batch to notify-url.
type webhook struct {
	url     string
	format  string
	headers http.Header
	client  *http.Client
}

func (w *webhook) name() string { return "notify-url" }

func (w *webhook) body(evs []Event) ([]byte, string, error) {
	switch w.format {
	case FormatSlack:
		b, err := json.Marshal(map[string]string{"text": text(evs)})
		return b, "application/json", err
	case FormatText:
		return []byte(text(evs)), "text/plain; charset=utf-8", nil
	default:
		b, err := json.Marshal(evs)
		return b, "application/json", err
	}
}

func (w *webhook) send(ctx context.Context, key string, evs []Event) error {
	body, ctype, err := w.body(evs)
	if err != nil {
		return fmt.Errorf("encoding the events: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify-url: %w", err)
	}
	for k, vs := range w.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("User-Agent", "recidivist")
	resp, err := w.client.Do(req)
	if err != nil {
		return &retryError{err: fmt.Errorf("notify-url: %w", err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("notify-url: %s answered %s", redact(w.url), resp.Status)
	switch c := resp.StatusCode; {
	case c >= 500, c == http.StatusRequestTimeout, c == http.StatusTooManyRequests:
		return &retryError{err: err, after: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return err // another 4xx (or 3xx): the request itself is wrong; retrying sends it again for nothing
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redact is u without its query and user info (a token may be in either).
func redact(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if s, rest, ok := strings.Cut(u, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 && at < strings.IndexByte(rest+"/", '/') {
			rest = rest[at+1:]
		}
		u = s + "://" + rest
	}
	return u
}
