package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// progress shows how far a long command has got, on a terminal: one line, rewritten in place
// at most ten times a second, with the count, the total when it is known, the rate and the
// time left. When the output is not a terminal (a pipe, a log file, CI, a test) it writes
// nothing at all. It is safe for concurrent use.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	tty   bool
	now   func() time.Time
	start time.Time
	last  time.Time // when the line was last written; zero: never
	base  int64     // the first count seen, and when: rates count from there (an export may start mid-log)
	baseT time.Time
	n     int64
	total int64
	seen  bool
	width int // of the line last written, so that a shorter one blanks what is left
}

// progressEvery is the least time between two updates of the line.
const progressEvery = 100 * time.Millisecond

// newProgress shows progress on w if w is a terminal.
func newProgress(w io.Writer, label string) *progress {
	return newProgressOn(w, label, isTerminal(w), time.Now)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// newProgressOn is newProgress with the terminal test and the clock given (for tests).
func newProgressOn(w io.Writer, label string, tty bool, now func() time.Time) *progress {
	return &progress{w: w, label: label, tty: tty, now: now, start: now()}
}

// setTotal says what count means done; 0 means unknown.
func (p *progress) setTotal(total int64) {
	p.mu.Lock()
	p.total = total
	p.mu.Unlock()
}

// update records the count done so far and redraws the line if it is time to.
func (p *progress) update(done int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record(done)
}

// updateOf is update with the total, for callers that learn both together.
func (p *progress) updateOf(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
	p.record(done)
}

func (p *progress) record(done int64) {
	if !p.tty {
		p.n = done
		return
	}
	now := p.now()
	if !p.seen {
		p.seen, p.base, p.baseT = true, done, now
	}
	p.n = done
	if now.Sub(p.last) < progressEvery || (p.last.IsZero() && now.Sub(p.start) < progressEvery) {
		return // nothing for the first tenth of a second: a quick command shows no progress at all
	}
	p.last = now
	p.draw(p.line(now))
}

// line says where things are: "verifying: 412,000 of 1,000,000 events (41%), 230,000/s, 3s left".
func (p *progress) line(now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", p.label, commas(p.n))
	if p.total > 0 {
		pct := min(100*p.n/p.total, 100)
		fmt.Fprintf(&b, " of %s events (%d%%)", commas(p.total), pct)
	} else {
		b.WriteString(" events")
	}
	elapsed := now.Sub(p.baseT)
	if elapsed <= 0 || p.n <= p.base {
		return b.String()
	}
	rate := float64(p.n-p.base) / elapsed.Seconds()
	fmt.Fprintf(&b, ", %s/s", commas(int64(rate)))
	if p.total > p.n {
		left := time.Duration(float64(p.total-p.n) / rate * float64(time.Second))
		fmt.Fprintf(&b, ", %s left", roundLeft(left))
	}
	return b.String()
}

// draw rewrites the line in place.
func (p *progress) draw(s string) {
	pad := ""
	if n := len(s); n < p.width {
		pad = strings.Repeat(" ", p.width-n)
	}
	p.width = len(s)
	fmt.Fprintf(p.w, "\r%s%s", s, pad)
}

// done ends the line, if one was shown, with how long it all took; the command then says what
// it did (the count shown may be a position in the log, not what was written).
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty || p.last.IsZero() {
		return
	}
	p.draw(fmt.Sprintf("%s: finished in %s", p.label, p.now().Sub(p.start).Round(time.Millisecond)))
	fmt.Fprintln(p.w)
}

// roundLeft rounds the time left to what is worth reading: seconds, then minutes.
func roundLeft(d time.Duration) time.Duration {
	if d < time.Minute {
		return max(d.Round(time.Second), time.Second)
	}
	return d.Round(10 * time.Second)
}

// commas writes 1234567 as 1,234,567.
func commas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
