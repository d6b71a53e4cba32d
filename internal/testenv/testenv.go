// Package testenv holds what tests share about the machine they run on.
package testenv

import (
	"bytes"
	"os"
	"sync"
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

// Buffer is a bytes.Buffer that a logger may write to from other goroutines
// while the test reads it.
type Buffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
