package reliability

import (
	"os"
	"testing"

	"github.com/recidivist/recidivist/internal/e2etest"
)

// TestMain removes the binary built once for the whole run.
func TestMain(m *testing.M) { os.Exit(e2etest.Main(m)) }

// binary builds ./cmd/recidivist once per test run and returns its path.
func binary(t testing.TB) string { return e2etest.Binary(t) }
