package doctor

import (
	"fmt"
	"net/url"
	"os"
)

// checkNotify checks the notifiers: the hook is a regular, executable file
// no group or other user can change (it runs as root unless
// notify-exec-user says otherwise), and the webhook's URL (which Load has
// parsed) is reported without its secrets.
func (d *Doctor) checkNotify() {
	n := d.cfg.Notify
	if len(n.Exec) > 0 {
		d.checkHook(n.Exec[0])
	}
	if n.URL != "" {
		u, err := url.Parse(n.URL)
		if err != nil { // Load refused it already
			d.problem(fmt.Sprintf("notify-url: %v", err), "set notify-url to an http:// or https:// URL")
			return
		}
		if u.Scheme == "http" {
			d.note("notify-url: %s://%s gets notifications (format %s) in clear text; prefer https", u.Scheme, u.Host, n.Format)
			return
		}
		d.ok("notify-url: %s://%s gets notifications (format %s)", u.Scheme, u.Host, n.Format)
	}
}

func (d *Doctor) checkHook(path string) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		d.problem(fmt.Sprintf("notify-exec: %v", err), "install the hook at "+path+" or fix notify-exec")
	case !fi.Mode().IsRegular():
		d.problem(fmt.Sprintf("notify-exec: %s is not a regular file (%s)", path, fi.Mode().Type()), "point notify-exec at the program itself")
	case fi.Mode().Perm()&0o111 == 0:
		d.problem(fmt.Sprintf("notify-exec: %s is not executable (mode %04o)", path, fi.Mode().Perm()), "chmod 755 "+path)
	case fi.Mode().Perm()&0o022 != 0:
		d.problem(fmt.Sprintf("notify-exec: %s can be changed by group or others (mode %04o), and the daemon runs it", path, fi.Mode().Perm()),
			"chmod go-w "+path)
	default:
		d.ok("notify-exec: %s is executable and only its owner can change it", path)
	}
}
