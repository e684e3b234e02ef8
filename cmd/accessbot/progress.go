package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
)

// progress prints a running count on a terminal, at most a few times a second, and nothing when
// the output is not a terminal (a log file, CI).
type progress struct {
	w     io.Writer
	verb  string
	tty   bool
	last  time.Time
	start time.Time
	n     int64
}

func newProgress(w io.Writer, verb string) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, verb: verb, tty: ok && isatty.IsTerminal(f.Fd()), start: time.Now()}
}

func (p *progress) update(done int64) {
	p.n = done
	if !p.tty || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r%s %d events...", p.verb, done)
}

func (p *progress) done() {
	if p.tty && !p.last.IsZero() {
		fmt.Fprintf(p.w, "\r%s %d events in %s\n", p.verb, p.n, time.Since(p.start).Round(time.Millisecond))
	}
}
