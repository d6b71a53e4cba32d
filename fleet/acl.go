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
	pass := aclPassword(password)
	var b strings.Builder
	b.WriteString("ACL SETUSER " + user + " reset on " + pass + " resetkeys ~rcv:{" + name + "}:* resetchannels -@all")
	for _, c := range Commands {
		b.WriteString(" +" + c)
	}
	return b.String()
}

// SentinelCommands is what a fleet member asks each sentinel (the
// go-redis failover client): find the primary and the other sentinels,
// and hear of a switch on the +switch-master channel.
var SentinelCommands = []string{
	"auth", "hello", "ping", "subscribe", "unsubscribe",
	"sentinel|get-master-addr-by-name", "sentinel|sentinels", "sentinel|replicas",
}

// SentinelACL returns the sentinel.conf line that gives user, with the
// same password as on the servers, exactly what a fleet member asks a
// sentinel (hashed or placeholder password as for ACL).
func SentinelACL(user, password string) string {
	var b strings.Builder
	b.WriteString("user " + user + " on " + aclPassword(password) + " resetchannels &+switch-master -@all")
	for _, c := range SentinelCommands {
		b.WriteString(" +" + c)
	}
	return b.String()
}

// aclPassword is the ACL rule of a password: its SHA-256, or a
// placeholder to replace.
func aclPassword(password string) string {
	if password == "" {
		return ">CHANGE-ME"
	}
	sum := sha256.Sum256([]byte(password))
	return "#" + hex.EncodeToString(sum[:])
}

// Password reads the password of o's fleet-password-file ("" without one),
// refusing a file others can read.
func (o Options) Password() (string, error) { return readPassword(o.PasswordFile) }
