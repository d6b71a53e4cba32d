package main

import (
	"fmt"
	"runtime/debug"
)

// version and commit may be set at build time with
// -ldflags "-X main.version=… -X main.commit=…" (make deb does); otherwise
// they are read from the build information the Go linker writes into the
// binary: the module version of `go install …@vX`, and the vcs.* settings of
// a `go build` in a git checkout.
var (
	version = ""
	commit  = ""
)

// build is what `recidivist --version` says about this binary.
type build struct {
	version  string
	commit   string // full revision, or "" when unknown
	time     string // the commit's time (vcs.time), RFC 3339, or ""
	modified bool   // built from a checkout with uncommitted changes
}

func readBuild() build {
	b := build{version: version, commit: commit}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.commit == "" {
					b.commit = s.Value
				}
			case "vcs.time":
				b.time = s.Value
			case "vcs.modified":
				b.modified = s.Value == "true"
			}
		}
	}
	if b.version == "" {
		b.version = "dev"
	}
	return b
}

// String is the line --version prints, e.g.
// "recidivist 1.2.0 (commit 0123…, committed 2026-12-02T04:45:40Z)".
func (b build) String() string {
	if b.commit == "" {
		return fmt.Sprintf("recidivist %s (commit unknown)", b.version)
	}
	s := fmt.Sprintf("recidivist %s (commit %s", b.version, b.commit)
	if b.modified {
		s += " with local changes"
	}
	if b.time != "" {
		s += ", committed " + b.time
	}
	return s + ")"
}
