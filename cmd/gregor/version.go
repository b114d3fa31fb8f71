package main

import (
	"fmt"
	"runtime/debug"
)

// version describes the running binary from its build information: the
// main module's version ("(devel)" for a build from a work tree), the VCS
// commit it was built from, whether the tree had uncommitted changes, and
// the Go version. A binary built without VCS stamping (go run, go test,
// -buildvcs=false, a tree without .git) says its commit is unknown.
func version() string { return formatVersion(debug.ReadBuildInfo()) }

func formatVersion(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "unknown (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, when string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	commit := "commit unknown"
	if rev != "" {
		commit = "commit " + rev
		if modified {
			commit += " (modified)"
		}
		if when != "" {
			commit += " of " + when
		}
	}
	return fmt.Sprintf("%s, %s, %s", v, commit, bi.GoVersion)
}
