// Package testproc holds what the process-level test packages (test/e2e,
// test/cluster) share: building the broker binary, making `go test`'s cache
// notice changes to the broker they run without importing it, a log buffer
// for child processes, and a bounded poller.
package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/gregor-dev/gregor/internal/testutil"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildGregor builds cmd/gregor into a new temporary directory and returns
// the binary and the directory (for the caller to remove); a non-empty
// prebuilt names a binary to use instead (dir is then "").
func BuildGregor(prebuilt, dirPrefix string) (bin, dir string, err error) {
	if prebuilt != "" {
		_, err := os.Stat(prebuilt)
		return prebuilt, "", err
	}
	if dir, err = os.MkdirTemp("", dirPrefix); err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, "gregor")
	var out bytes.Buffer
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "github.com/gregor-dev/gregor/cmd/gregor")
	build.Stdout, build.Stderr = &out, &out
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("building gregor: %w\n%s", err, out.String())
	}
	return bin, dir, nil
}

// StatModuleSources stats every Go file, Python and JavaScript script and
// go.mod/go.sum of the module above the test's directory (hidden and
// node_modules directories skipped). The process tests do not import the
// broker; they build and run it. go test caches a pass against the files
// the test process touched, so touching the broker's sources makes a plain
// `go test ./...` rerun them whenever the broker changes instead of
// reporting a stale cached pass. It must run inside m.Run: go test records
// file accesses only from there.
func StatModuleSources() error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("module root not found from the test directory: %w", err)
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // removed while walking
		case err != nil:
			return err
		case d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules"):
			return filepath.SkipDir
		case d.IsDir():
			return nil
		}
		if ext := filepath.Ext(path); ext != ".go" && ext != ".py" && ext != ".js" && d.Name() != "go.mod" && d.Name() != "go.sum" {
			return nil
		}
		if _, err := os.Stat(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

// SyncBuffer is a bytes.Buffer safe for concurrent use.
type SyncBuffer = testutil.SyncBuffer
