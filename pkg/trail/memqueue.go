package trail

import (
	"sync"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

// memoryQueue is the bounded in-memory queue in front of the disk queue.
// push never blocks: a full or closed queue refuses the event.
type memoryQueue struct {
	mu     sync.RWMutex // held for reading by push, for writing by close
	closed bool
	ch     chan store.Event
	done   chan struct{}
}

type pushResult int

const (
	pushed pushResult = iota
	pushFull
	pushClosed
)

func newMemoryQueue(capacity int) *memoryQueue {
	return &memoryQueue{ch: make(chan store.Event, capacity), done: make(chan struct{})}
}

// push adds e if there is room. The read lock makes close wait for pushes in
// progress, so nothing is added once the consumer has been told to drain.
func (m *memoryQueue) push(e store.Event) pushResult {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return pushClosed
	}
	select {
	case m.ch <- e:
		return pushed
	default:
		return pushFull
	}
}

// take waits for at least one event and returns up to n. With a linger, it then
// lets more events gather for that long (unless the queue is closing), so a steady
// trickle is taken in groups: one wake-up and one disk sync per group instead of per
// event. After close it returns what is left; more is false once the queue is closed
// and empty.
func (m *memoryQueue) take(n int, linger time.Duration) (events []store.Event, more bool) {
	select {
	case e := <-m.ch:
		events = append(events, e)
	case <-m.done:
	}
	if linger > 0 && len(events) > 0 && len(m.ch) < n-1 {
		t := time.NewTimer(linger)
		select {
		case <-t.C:
		case <-m.done:
			t.Stop()
		}
	}
	for len(events) < n {
		select {
		case e := <-m.ch:
			events = append(events, e)
		default:
			if len(events) == 0 {
				return nil, false // only reached once closed
			}
			return events, true
		}
	}
	return events, true
}

// close refuses further events; take drains the rest.
func (m *memoryQueue) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.done)
	}
}

// len is the number of events waiting.
func (m *memoryQueue) len() int { return len(m.ch) }
