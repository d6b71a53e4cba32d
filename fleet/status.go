package fleet

import (
	"sync"
	"time"
)

// Status is what operators see of one side (writer or reader) of a host's
// link to the meeting point.
type Status struct {
	Connected  bool      `json:"connected"`
	Since      time.Time `json:"since,omitzero"` // of the current Connected state
	LastError  string    `json:"last_error,omitempty"`
	Pushed     uint64    `json:"pushed,omitempty"`     // writer: outbox position acknowledged
	Backlog    uint64    `json:"backlog,omitempty"`    // writer: outbox items not yet pushed
	Rewinds    int       `json:"rewinds,omitempty"`    // writer: times the meeting point had lost writes
	RePushed   int       `json:"re_pushed,omitempty"`  // writer: mirror records pushed again after a loss
	Snapshots  int       `json:"snapshots,omitempty"`  // reader: full snapshots taken
	Applied    int       `json:"applied,omitempty"`    // reader: records handed to the owner
	Cursor     string    `json:"cursor,omitempty"`     // reader: last change applied
	LastChange time.Time `json:"last_change,omitzero"` // reader: when the last change or snapshot was applied
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
