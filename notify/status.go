package notify

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/recidivist/recidivist/internal/atomicfile"
	"github.com/recidivist/recidivist/internal/nofollow"
	"github.com/recidivist/recidivist/statedir"
)

// StatusPath is where the notifier keeps its last error and last
// delivery in a state directory, for `recidivist status`.
func StatusPath(stateDir string) string { return statedir.NotifyStatus(stateDir) }

// Status is what `recidivist status` shows of the notifier.
type Status struct {
	LastSent    time.Time `json:"last_sent,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Outbox      int       `json:"outbox"` // events waiting
}

type statusFile struct {
	path string
	mu   sync.Mutex
	st   Status
}

func (s *statusFile) sent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.LastSent = time.Now().UTC().Truncate(time.Second)
	s.save()
}

func (s *statusFile) failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.LastError = err.Error()
	s.st.LastErrorAt = time.Now().UTC().Truncate(time.Second)
	s.save()
}

// save writes the status; a failure only costs `status` its news.
func (s *statusFile) save() {
	b, err := json.Marshal(s.st)
	if err == nil {
		_ = atomicfile.WriteFile(s.path, append(b, '\n'), 0o600)
	}
}

// ReadStatus reads the notifier's status in stateDir and counts the
// outbox. A state directory without them gives a zero Status.
func ReadStatus(stateDir string) (Status, error) {
	var st Status
	f, err := nofollow.Open(StatusPath(stateDir))
	if err == nil {
		b, rerr := io.ReadAll(io.LimitReader(f, 1<<16))
		f.Close()
		if rerr == nil {
			_ = json.Unmarshal(b, &st)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return st, err
	}
	evs, _, err := readOutbox(OutboxPath(stateDir))
	if err != nil {
		return st, err
	}
	st.Outbox = len(evs)
	return st, nil
}
