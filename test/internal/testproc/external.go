package testproc

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// DebianPython is the distribution's interpreter, which sees the Debian
// python3-* modules (a python3 earlier on PATH may be another build).
const DebianPython = "/usr/bin/python3"

// RequireExternal reports whether GREGOR_REQUIRE_EXTERNAL=1 is set (as CI
// does): an external client that is missing is then a failure, not a skip.
func RequireExternal() bool { return os.Getenv("GREGOR_REQUIRE_EXTERNAL") == "1" }

// SkipOrFail skips the test, or fails it under GREGOR_REQUIRE_EXTERNAL=1.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if RequireExternal() {
		t.Fatalf("%s (GREGOR_REQUIRE_EXTERNAL=1)", msg)
	}
	t.Skipf("%s (set GREGOR_REQUIRE_EXTERNAL=1 to fail instead)", msg)
}

// PythonModule returns nil if DebianPython can import module, else why
// not, naming the Debian package pkg that provides it.
func PythonModule(module, pkg string) error {
	if _, err := os.Stat(DebianPython); err != nil {
		return fmt.Errorf("%s not found (Debian package python3)", DebianPython)
	}
	if out, err := exec.Command(DebianPython, "-c", "import "+module).CombinedOutput(); err != nil {
		return fmt.Errorf("%s cannot import %s (Debian package %s): %v: %s", DebianPython, module, pkg, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// LookTool returns the first of names found on PATH, or an error naming
// the Debian package pkg that provides it.
func LookTool(pkg string, names ...string) (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not installed (Debian package %s)", strings.Join(names, " / "), pkg)
}
