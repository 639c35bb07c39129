// Package poll waits, in tests, for something that happens asynchronously.
package poll

import (
	"testing"
	"time"
)

// giveUp bounds a wait only so that a test which would hang fails instead: it asserts
// nothing about how long the awaited event takes.
const giveUp = time.Minute

// Until polls cond until it holds, and fails the test if it still does not after a
// minute. what names the awaited event in that failure.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(giveUp)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
