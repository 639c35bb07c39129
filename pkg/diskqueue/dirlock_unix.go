//go:build unix

package diskqueue

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockQueueFile takes an exclusive lock on f, the queue's ack file, for as
// long as f is open. Two writers of one queue directory would interleave
// segments and acknowledge each other's events; the second is refused.
func lockQueueFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("queue directory %s is in use by another process: give each replica its own queue directory", f.Name())
	}
	if err != nil {
		return fmt.Errorf("lock queue directory: %w", err)
	}
	return nil
}
