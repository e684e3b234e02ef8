package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)} }

func TestProgressWritesNothingWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeClock()
	p := newProgressOn(&buf, "verifying", false, clk.now)
	p.setTotal(1000)
	for i := range int64(1000) {
		clk.advance(10 * time.Millisecond)
		p.update(i)
	}
	p.done()
	if buf.Len() != 0 {
		t.Fatalf("wrote %q to something that is not a terminal", buf.String())
	}
}

// On a terminal the line is rewritten in place (\r), at most ten times a second however often
// the count moves, says how far, how fast and how long is left, and ends with a newline.
func TestProgressUpdatesInPlaceAtMostTenTimesASecond(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeClock()
	p := newProgressOn(&buf, "verifying", true, clk.now)
	p.setTotal(1_000_000)
	// 500,000 events a second, reported every millisecond, for two seconds.
	for ms := int64(1); ms <= 2000; ms++ {
		clk.advance(time.Millisecond)
		p.update(ms * 500)
		if ms == 1000 {
			line := lastLine(buf.String())
			if want := "verifying: 500,000 of 1,000,000 events (50%), 500,000/s, 1s left"; line != want {
				t.Errorf("after 1s the line is %q, want %q", line, want)
			}
		}
	}
	redraws := strings.Count(buf.String(), "\r")
	if redraws < 15 || redraws > 20 {
		t.Errorf("the line was drawn %d times in 2s, want about 10 a second and never more", redraws)
	}
	if strings.Contains(buf.String(), "\n") {
		t.Error("a newline before done")
	}
	clk.advance(500 * time.Millisecond)
	p.done()
	out := buf.String()
	if !strings.HasSuffix(out, "\rverifying: finished in 2.5s"+strings.Repeat(" ", len("verifying: 1,000,000 of 1,000,000 events (100%), 500,000/s")-len("verifying: finished in 2.5s"))+"\n") {
		t.Errorf("the last line is %q", out[strings.LastIndex(out, "\r"):])
	}
}

func lastLine(s string) string {
	s = s[strings.LastIndex(s, "\r")+1:]
	return strings.TrimRight(s, " ")
}

func TestProgressOfAQuickCommandShowsNothing(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeClock()
	p := newProgressOn(&buf, "exporting", true, clk.now)
	p.setTotal(100)
	for i := range int64(100) {
		clk.advance(time.Millisecond / 2)
		p.update(i)
	}
	p.done()
	if buf.Len() != 0 {
		t.Fatalf("a 50ms command drew %q", buf.String())
	}
}

// Without a total the line gives the count and the rate; a count that started mid-log (an
// export from --since) gives the rate from where it started; a shorter line blanks the rest
// of a longer one.
func TestProgressWithoutATotalAndFromMidLog(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeClock()
	p := newProgressOn(&buf, "exporting", true, clk.now)
	p.update(800_000)
	clk.advance(time.Second)
	p.update(900_000)
	if got, want := lastLine(buf.String()), "exporting: 900,000 events, 100,000/s"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	p.updateOf(950_000, 1_000_000)
	clk.advance(500 * time.Millisecond)
	p.update(950_000)
	if got, want := lastLine(buf.String()), "exporting: 950,000 of 1,000,000 events (95%), 100,000/s, 1s left"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	// Events appended meanwhile: past the total, never over 100%, nothing left.
	clk.advance(time.Second)
	p.update(1_000_100)
	got := buf.String()[strings.LastIndex(buf.String(), "\r")+1:]
	if want := "exporting: 1,000,100 of 1,000,000 events (100%), 80,040/s"; !strings.HasPrefix(got, want) || len(got) != len("exporting: 950,000 of 1,000,000 events (95%), 100,000/s, 1s left") {
		t.Errorf("line %q, want %q padded to the previous line's width", got, want)
	}
}

func TestProgressIsSafeForConcurrentUpdates(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressOn(&buf, "verifying", true, time.Now)
	p.setTotal(4000)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range int64(1000) {
				p.update(int64(g)*1000 + i)
			}
		})
	}
	wg.Wait()
	p.done()
}

func TestCommas(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
}
