package export

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Auth says who may fetch the export. Either one passes: a client address
// inside Allow, or the token. With neither set, every client passes (the
// configuration allows that on a loopback address only).
type Auth struct {
	Token string         // sent as "Authorization: Bearer T" or as the password of Basic auth
	Allow []netip.Prefix // client addresses allowed without the token
}

// verdict is why a request was let in or not.
type verdict int

const (
	allowed verdict = iota
	unauthorized
	forbidden
)

func (a Auth) check(r *http.Request) verdict {
	if a.Token == "" && len(a.Allow) == 0 {
		return allowed
	}
	if len(a.Allow) > 0 {
		if ip, ok := remoteAddr(r); ok {
			for _, p := range a.Allow {
				if p.Contains(ip) {
					return allowed
				}
			}
		}
	}
	if a.Token == "" {
		return forbidden // only the allow list could let it in
	}
	if tok, ok := presented(r); ok && subtle.ConstantTimeCompare([]byte(tok), []byte(a.Token)) == 1 {
		return allowed
	}
	return unauthorized
}

// presented is the token of the request: the Bearer token, or the password
// of Basic auth (any user name: pfSense and OPNsense URL tables send
// https://user:TOKEN@host/…).
func presented(r *http.Request) (string, bool) {
	if _, pass, ok := r.BasicAuth(); ok {
		return pass, true
	}
	h := r.Header.Get("Authorization")
	if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok), true
	}
	return "", false
}

// remoteAddr is the client's address; the export trusts no proxy header.
func remoteAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
