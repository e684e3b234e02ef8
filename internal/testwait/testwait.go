// Package testwait bounds a test's waits: a receive that never comes fails the test with what
// it was waiting for, instead of hanging the run until go test's own timeout (ten minutes,
// once, under a mutation of the scheduler) with nothing said.
package testwait

import (
	"sync"
	"testing"
	"time"
)

// Deadline is how long a test waits for something that, when the code works, comes in
// milliseconds: long enough for a loaded CI machine, short enough to say what hung.
const Deadline = 10 * time.Second

// Receive returns the next value from ch, or fails the test naming what did not come when
// nothing arrives within Deadline. A closed channel gives its zero value, as <-ch would.
func Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	v, _ := Receive2(t, ch, what)
	return v
}

// Receive2 is Receive that also says, as v, ok := <-ch would, whether the channel is open.
func Receive2[T any](t testing.TB, ch <-chan T, what string) (T, bool) {
	t.Helper()
	timer := time.NewTimer(Deadline)
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		return v, ok
	case <-timer.C:
		t.Fatalf("waited %s for %s: it never came", Deadline, what)
		var zero T
		return zero, false
	}
}

// Wait is wg.Wait that fails the test, naming what did not finish, after Deadline. The
// goroutine left waiting on wg ends with the test binary.
func Wait(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	Receive(t, done, what)
}
