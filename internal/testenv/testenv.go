// Package testenv holds what tests share about the machine they run on.
package testenv

import (
	"os"
	"testing"
)

// SkipOrFail skips t for reason, except when the environment says CI=true:
// there it fails, so that a CI run cannot pass by skipping what it must
// test.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s, and CI=true forbids skipping this test", reason)
	}
	t.Skip("skipping: " + reason)
}
