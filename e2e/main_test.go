package e2e

import (
	"os"
	"testing"

	"github.com/recidivist/recidivist/internal/e2etest"
)

func TestMain(m *testing.M) { os.Exit(e2etest.Main(m)) }

// binary builds ./cmd/recidivist once per test run and returns its path.
func binary(t testing.TB) string { return e2etest.Binary(t) }
