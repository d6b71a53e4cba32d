package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Commands is every command a fleet member sends, directly or from the
// scripts: the whole of its ACL. Anything else (FLUSHALL, CONFIG, KEYS,
// DEL, …) is refused, and keys outside rcv:{F}:* too, also from EVAL.
var Commands = []string{
	"ping", "hello", "auth", "select", "multi", "exec", "discard",
	"evalsha", "eval", "time",
	"hsetnx", "hset", "hget", "hmget", "hscan", "hgetall", "hdel",
	"zadd", "zrange", "zrangebyscore", "zremrangebyscore", "zremrangebyrank",
	"pexpireat", "incr", "get",
	"xadd", "xread", "xrange", "xrevrange", "xinfo|stream",
}

// ACL returns the ACL SETUSER command that gives user exactly what a member
// of fleet name needs. With the password, the line carries only its SHA-256
// (#hex), so printing it does not disclose the password; without, a
// placeholder to replace.
func ACL(name, user, password string) string {
	pass := ">CHANGE-ME"
	if password != "" {
		sum := sha256.Sum256([]byte(password))
		pass = "#" + hex.EncodeToString(sum[:])
	}
	var b strings.Builder
	b.WriteString("ACL SETUSER " + user + " reset on " + pass + " resetkeys ~rcv:{" + name + "}:* resetchannels -@all")
	for _, c := range Commands {
		b.WriteString(" +" + c)
	}
	return b.String()
}

// Password reads the password of o's fleet-password-file ("" without one),
// refusing a file others can read.
func (o Options) Password() (string, error) { return readPassword(o.PasswordFile) }
