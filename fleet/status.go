package fleet

import (
	"sync"
	"time"
)

// Status is what operators see of one side (writer or reader) of a host's
// link to the meeting point.
type Status struct {
	Connected  bool
	Since      time.Time // of the current Connected state
	LastError  string
	Pushed     uint64 // writer: outbox position acknowledged
	Backlog    uint64 // writer: outbox items not yet pushed
	Rewinds    int    // writer: times the meeting point had lost writes
	RePushed   int    // writer: mirror records pushed again after a loss
	Snapshots  int    // reader: full snapshots taken
	Applied    int    // reader: records handed to the owner
	Cursor     string // reader: last change applied
	LastChange time.Time
}

// status is a Status guarded for the goroutine that updates it and the
// ones that read it.
type status struct {
	mu sync.Mutex // guards s
	s  Status
}

func (st *status) get() Status {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.s
}

func (st *status) update(f func(*Status)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.s)
}

func (st *status) connected(ok bool, err error) {
	st.update(func(s *Status) {
		if s.Connected != ok || s.Since.IsZero() {
			s.Connected, s.Since = ok, time.Now()
		}
		if err != nil {
			s.LastError = err.Error()
		}
	})
}

// backoff is the pause before the next attempt after n failures in a row.
func backoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(n, 6)
	return min(d, 5*time.Second)
}
