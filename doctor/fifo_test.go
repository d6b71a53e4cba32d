package doctor

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDoctor_a_FIFO_as_log_is_a_problem_not_a_hang: opening a FIFO for
// reading blocks until a writer comes, so check must find out from the
// file's type, report it and go on.
func TestDoctor_a_FIFO_as_log_is_a_problem_not_a_hang(t *testing.T) {
	w := newWorld(t)
	fifo := filepath.Join(w.dir, "fifo.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	w.cfg.Logs = []string{fifo}
	done := make(chan int, 1)
	go func() { done <- w.run() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("check did not finish within 30s with a FIFO as log")
	}
	for _, want := range []string{"log " + fifo + " is a FIFO", "not supported"} {
		if !strings.Contains(w.out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, w.out)
		}
	}
}
