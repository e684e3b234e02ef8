// Package table prints the benchmark programs' results the same way: one row per measure, the
// accessbot figure beside its baseline from the same run and their ratio, as an aligned table
// or as Markdown for BENCHMARKS.md, and the numbers formatted alike.
package table

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one line of the table.
type Row struct {
	Bench, Measure, Value, Baseline, Ratio, Goal, Met string
}

// Print writes the title, the machine, the rows and the notes.
func Print(w io.Writer, title string, started time.Time, rows []Row, notes []string, markdown bool) {
	fmt.Fprintf(w, "\n%s\n", title)
	fmt.Fprintf(w, "machine: %s, %d CPUs (GOMAXPROCS %d), %s, %s/%s, %s\n\n",
		CPUModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, started.UTC().Format(time.RFC3339))
	header := Row{"BENCHMARK", "MEASURE", "ACCESSBOT", "BASELINE (same run)", "RATIO", "GOAL", "MET"}
	cells := func(x Row) []string { return []string{x.Bench, x.Measure, x.Value, x.Baseline, x.Ratio, x.Goal, x.Met} }
	if markdown {
		fmt.Fprintln(w, "| "+strings.Join(cells(header), " | ")+" |")
		fmt.Fprintln(w, "|---|---|---:|---|---:|---|---|")
		for _, x := range rows {
			fmt.Fprintln(w, "| "+strings.Join(cells(x), " | ")+" |")
		}
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, x := range append([]Row{header}, rows...) {
			fmt.Fprintln(tw, strings.Join(cells(x), "\t"))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintln(w, "- "+n)
	}
}

// Thousands writes n with thousands separators: 12,345.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Millis writes a latency in milliseconds: two decimals under 10 ms, one above.
func Millis(d time.Duration) string {
	m := float64(d) / float64(time.Millisecond)
	if m < 10 {
		return fmt.Sprintf("%.2f ms", m)
	}
	return fmt.Sprintf("%.1f ms", m)
}

// PerSec writes a rate: 1,234/s.
func PerSec(r float64) string { return fmt.Sprintf("%s/s", Thousands(int64(r+0.5))) }

// Ratio writes v/base, as a fraction too when it is small; "" without a baseline.
func Ratio(v, base float64) string {
	if base == 0 {
		return ""
	}
	r := v / base
	if r >= 0.01 {
		return fmt.Sprintf("%.2f", r)
	}
	return fmt.Sprintf("%.2g (1/%.0f)", r, 1/r)
}

// YesNo says whether a goal is met.
func YesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// CPUModel names the processor, from /proc/cpuinfo.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
