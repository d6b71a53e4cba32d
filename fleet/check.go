package fleet

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Level is how much a Finding matters to `recidivist check`.
type Level int

// The levels of a Finding.
const (
	OK      Level = iota // works
	Warning              // a risk; the fleet works
	Problem              // the fleet does not work as configured
)

// Finding is one thing `recidivist check` says about the fleet, with its
// fix when it is not OK.
type Finding struct {
	Level Level
	What  string
	Fix   string
}

// CheckOptions are what Check compares the meeting point with.
type CheckOptions struct {
	Fleet Options
	Local Rule             // this host's threshold, window and ban-time
	Now   func() time.Time // the local clock; default time.Now
}

// MaxSkew is the clock difference against Redis's TIME above which Check
// warns: versions of blocks and unbans are wall-clock milliseconds.
const MaxSkew = time.Second

// Check diagnoses this host's link to the meeting point: reachable, the
// credentials, every command of the ACL (probed on scratch keys
// rcv:{F}:check:* that expire in 10 s), the stored rule against the local
// one, and the clock skew. It changes nothing else.
func Check(ctx context.Context, o CheckOptions) []Finding {
	if o.Now == nil {
		o.Now = time.Now
	}
	r, err := Dial(o.Fleet)
	if err != nil {
		return []Finding{{Problem, "fleet: " + err.Error(), "fix the fleet-* key the message names"}}
	}
	defer r.Close()
	where := fmt.Sprintf("fleet-redis %s", o.Fleet.URL)
	if err := r.c.Ping(ctx).Err(); err != nil {
		return []Finding{explain(where, o.Fleet, err)}
	}
	out := []Finding{{OK, where + " answers as " + user(o.Fleet), ""}}
	missing, err := r.missingCommands(ctx)
	switch {
	case err != nil:
		out = append(out, explain(where, o.Fleet, err))
	case len(missing) > 0:
		out = append(out, Finding{Problem,
			fmt.Sprintf("%s: the ACL of %s refuses %s (NOPERM): the fleet cannot count or share", where, user(o.Fleet), strings.Join(missing, ", ")),
			fmt.Sprintf("have the Redis admin run the line of: recidivist fleet acl --fleet-user %s", o.Fleet.User)})
	default:
		out = append(out, Finding{OK, fmt.Sprintf("every command of the fleet allowed on rcv:{%s}:*", o.Fleet.Name), ""})
	}
	rule, err := r.Rule(ctx)
	switch {
	case errors.Is(err, ErrNotInitialised):
		out = append(out, Finding{Warning, fmt.Sprintf("fleet %q has no rule stored: the first writer stores its own", o.Fleet.Name),
			"run recidivist fleet init on one host"})
	case err != nil:
		out = append(out, explain(where, o.Fleet, err))
	case rule != o.Local:
		out = append(out, Finding{Warning,
			fmt.Sprintf("fleet %q counts with threshold %d, window %v, ban-time %v; this host's keys say threshold %d, window %v, ban-time %v: the fleet's rule decides fleet offenders, this host's its own",
				o.Fleet.Name, rule.Threshold, rule.Window, rule.BanTime, o.Local.Threshold, o.Local.Window, o.Local.BanTime),
			"set threshold, window and ban-time here to the fleet's, or make this host's the fleet's with recidivist fleet init --force"})
	default:
		out = append(out, Finding{OK, fmt.Sprintf("fleet %q counts with this host's threshold %d and window %v", o.Fleet.Name, rule.Threshold, rule.Window), ""})
	}
	before := o.Now()
	srv, err := r.c.Time(ctx).Result()
	if err != nil {
		return append(out, explain(where, o.Fleet, err))
	}
	after := o.Now()
	skew := srv.Sub(before.Add(after.Sub(before) / 2))
	if skew > MaxSkew || skew < -MaxSkew {
		out = append(out, Finding{Warning,
			fmt.Sprintf("this host's clock is %v off Redis's TIME (more than %v): a block and an unban racing within the skew may resolve the wrong way", -skew.Round(time.Millisecond), MaxSkew),
			"run NTP on this host and on Redis's (e.g. apt-get install chrony)"})
	} else {
		out = append(out, Finding{OK, fmt.Sprintf("clock within %v of Redis's TIME", skew.Abs().Round(time.Millisecond)), ""})
	}
	return out
}

func user(o Options) string {
	if o.User == "" {
		return "the default user"
	}
	return "user " + o.User
}

var quoted = regexp.MustCompile(`'([a-z|]+)'`)

// explain turns an error of the meeting point into a Finding with its fix.
func explain(where string, o Options, err error) Finding {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "WRONGPASS"):
		return Finding{Problem, fmt.Sprintf("%s refuses %s: wrong user or password (WRONGPASS)", where, user(o)),
			"check fleet-user and fleet-password-file against the ACL line of recidivist fleet acl (the password file must hold the password itself)"}
	case strings.Contains(msg, "NOAUTH"):
		return Finding{Problem, fmt.Sprintf("%s wants a password (NOAUTH)", where),
			"set fleet-user and fleet-password-file"}
	case strings.Contains(msg, "NOPERM"):
		what := "a command or key"
		if m := quoted.FindStringSubmatch(msg); m != nil {
			what = "the command " + m[1]
		} else if strings.Contains(msg, "key") {
			what = fmt.Sprintf("the keys rcv:{%s}:*", o.Name)
		}
		return Finding{Problem, fmt.Sprintf("%s: the ACL of %s refuses %s (NOPERM): %v", where, user(o), what, err),
			fmt.Sprintf("have the Redis admin run the line of: recidivist fleet acl --fleet-user %s", o.User)}
	case strings.Contains(msg, "certificate"), strings.Contains(msg, "tls:"):
		return Finding{Problem, fmt.Sprintf("%s: TLS fails: %v", where, err),
			"set fleet-tls-ca to the CA that signed the server's certificate, and reach the server by the name in it"}
	}
	return Finding{Problem, fmt.Sprintf("%s unreachable: %v; local blocking goes on, the fleet's share waits", where, err),
		"start Redis, or fix the address in fleet-redis, or open the way to it (firewall, bind address)"}
}

var (
	//go:embed probe.lua
	probeSrc    string
	probeScript = redis.NewScript(probeSrc)
)

// missingCommands runs probe.lua on scratch keys and returns the commands
// the ACL refuses; an error when even the scripts (or the keys) are.
func (r *Redis) missingCommands(ctx context.Context) ([]string, error) {
	k := r.keys.prefix + "check:"
	v, err := probeScript.Run(ctx, r.c, []string{k + "h", k + "z", k + "x", k + "s"}, 10_000).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var direct []string
	pipe := r.c.TxPipeline()
	pipe.Ping(ctx)
	if _, err := pipe.Exec(ctx); err != nil {
		if m := quoted.FindStringSubmatch(err.Error()); m != nil && strings.Contains(err.Error(), "NOPERM") {
			direct = append(direct, m[1])
		} else {
			return nil, err
		}
	}
	return append(direct, v...), nil
}
