package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/recidivist/recidivist/internal/fileperm"
)

// Options say how to reach the fleet's meeting point: the fleet-* keys.
type Options struct {
	URL          string // fleet-redis: redis://, rediss://, unix:///path, redis-sentinel://h:p,h:p/master
	Name         string // fleet-name
	Host         string // fleet-host
	User         string // fleet-user
	PasswordFile string // fleet-password-file: 0600, read at Dial, never logged
	TLSCA        string // fleet-tls-ca: PEM file of the CA that signed the server's certificate
}

// Target is a parsed fleet-redis URL.
type Target struct {
	Scheme    string   // redis, rediss, unix or redis-sentinel
	Addrs     []string // host:port; one unless sentinel; the socket path for unix
	Master    string   // sentinel only
	DB        int
	TLSServer string // rediss: the name the certificate must carry
}

// ParseURL checks a fleet-redis value without connecting. The password is
// never part of it: it comes only from fleet-password-file.
func ParseURL(s string) (Target, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("not a URL: %w", err)
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return Target{}, errors.New("a password in the URL would show in ps and logs: put it in fleet-password-file")
		}
		return Target{}, errors.New("put the user in fleet-user, not in the URL")
	}
	t := Target{Scheme: u.Scheme}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" {
			return Target{}, errors.New("no host: want redis://HOST:PORT")
		}
		host := u.Host
		if u.Port() == "" {
			host += ":6379"
		}
		t.Addrs, t.TLSServer = []string{host}, u.Hostname()
		if p := strings.Trim(u.Path, "/"); p != "" {
			if _, err := fmt.Sscanf(p, "%d", &t.DB); err != nil {
				return Target{}, fmt.Errorf("database %q is not a number", p)
			}
		}
	case "unix":
		if u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			return Target{}, errors.New("want unix:///absolute/path/redis.sock")
		}
		t.Addrs = []string{u.Path}
	case "redis-sentinel":
		for _, h := range strings.Split(u.Host, ",") {
			if h == "" {
				return Target{}, errors.New("an empty sentinel address")
			}
			if !strings.Contains(h, ":") {
				h += ":26379"
			}
			t.Addrs = append(t.Addrs, h)
		}
		t.Master = strings.Trim(u.Path, "/")
		if len(t.Addrs) == 0 || t.Master == "" || strings.Contains(t.Master, "/") {
			return Target{}, errors.New("want redis-sentinel://HOST:PORT,HOST:PORT,HOST:PORT/MASTER")
		}
	default:
		return Target{}, fmt.Errorf("scheme %q: want redis://, rediss://, unix:// or redis-sentinel://", u.Scheme)
	}
	return t, nil
}

// ValidName reports whether s may be a fleet or host name: 1 to 64
// letters, digits, '.', '_' or '-' (no ':', '|', '{' or '}', which the key
// model and event members use).
func ValidName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// ErrPasswordFileOpen is returned for a password file others can read.
var ErrPasswordFileOpen = errors.New("password file is readable by others")

// quietOnce silences go-redis's own logging: every failure it logs is also
// returned to the writer, reader or command, which report it once with
// context.
var quietOnce sync.Once

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// Dial builds the Fleet of o. It does not connect; the first call does.
func Dial(o Options) (*Redis, error) {
	quietOnce.Do(func() { redis.SetLogger(quiet{}) })
	t, err := ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("fleet-redis %q: %w", o.URL, err)
	}
	pass, err := readPassword(o.PasswordFile)
	if err != nil {
		return nil, err
	}
	var tlsc *tls.Config
	if t.Scheme == "rediss" || o.TLSCA != "" {
		tlsc = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.TLSServer}
		if o.TLSCA != "" {
			pem, err := os.ReadFile(o.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("fleet-tls-ca: reading %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("fleet-tls-ca: %s holds no PEM certificate", o.TLSCA)
			}
			tlsc.RootCAs = pool
		}
	}
	// A fleet call must fail fast and be retried by the writer or reader,
	// never hang: enforcement does not wait on it, but status does.
	const (
		dial = 3 * time.Second
		io   = 3 * time.Second
	)
	var c *redis.Client
	if t.Scheme == "redis-sentinel" {
		c = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: t.Master, SentinelAddrs: t.Addrs,
			SentinelUsername: o.User, SentinelPassword: pass,
			Username: o.User, Password: pass, TLSConfig: tlsc,
			DialTimeout: dial, ReadTimeout: io, WriteTimeout: io, MaxRetries: 1,
			DisableIdentity: true,
		})
	} else {
		network := "tcp"
		if t.Scheme == "unix" {
			network = "unix"
		}
		c = redis.NewClient(&redis.Options{
			Network: network, Addr: t.Addrs[0], DB: t.DB,
			Username: o.User, Password: pass, TLSConfig: tlsc,
			DialTimeout: dial, ReadTimeout: io, WriteTimeout: io, MaxRetries: 1,
			DisableIdentity: true, // CLIENT SETINFO does not exist in Redis 7.0 and is not in the ACL
		})
	}
	return NewRedis(c, o.Name, o.Host), nil
}

func readPassword(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("fleet-password-file: %w", err)
	}
	if fileperm.OpenToOthers(fi) {
		return "", fmt.Errorf("fleet-password-file %s: %w (mode %04o): run chmod 600 %s", path, ErrPasswordFileOpen, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("fleet-password-file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
