package e2etest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// Main runs the tests of m and removes the binary Binary built, if any; it
// returns the exit status for os.Exit. Call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if buildDir != "" {
		if err := os.RemoveAll(buildDir); err != nil {
			fmt.Fprintf(os.Stderr, "removing %s: %v\n", buildDir, err)
		}
	}
	return code
}

// Binary builds ./cmd/recidivist once per test run (the first caller pays)
// and returns its path. Main removes it at the end of the run.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "recidivist-bin-")
		if buildErr != nil {
			buildErr = fmt.Errorf("creating the build directory: %w", buildErr)
			return
		}
		buildPath = filepath.Join(buildDir, "recidivist")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/recidivist/recidivist/cmd/recidivist")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building cmd/recidivist: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}
