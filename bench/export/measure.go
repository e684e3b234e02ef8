package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/storage"
)

// sample is one measurement: the median of some runs, and what the runs wrote.
type sample struct {
	Median time.Duration // wall time
	CPU    time.Duration // user + system time of the median run
	Runs   []time.Duration
	Bytes  int64
	MaxRSS int64 // bytes, for whole processes
}

// runStats is what one run reports beside its wall time.
type runStats struct {
	bytes, maxRSS int64
	cpu           time.Duration // of a child process; 0: measured here, in process
}

// median runs f runs times and keeps the median wall time, with that run's CPU time.
func median(runs int, f func() (runStats, error)) (sample, error) {
	var (
		s   sample
		cpu []time.Duration
	)
	for range runs {
		before := selfCPU()
		start := time.Now()
		st, err := f()
		if err != nil {
			return s, err
		}
		s.Runs = append(s.Runs, time.Since(start))
		if st.cpu == 0 {
			st.cpu = selfCPU() - before
		}
		cpu = append(cpu, st.cpu)
		s.Bytes, s.MaxRSS = st.bytes, max(s.MaxRSS, st.maxRSS)
	}
	idx := make([]int, len(s.Runs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return s.Runs[idx[a]] < s.Runs[idx[b]] })
	mid := idx[len(idx)/2]
	s.Median, s.CPU = s.Runs[mid], cpu[mid]
	return s, nil
}

// selfCPU is the user + system time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingWriter counts what passes to /dev/null.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func devNull() (*os.File, error) { return os.OpenFile(os.DevNull, os.O_WRONLY, 0) }

// inProcess exports the whole log with accessbot's own code, to /dev/null.
func inProcess(ctx context.Context, path, format string) (runStats, error) {
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: path})
	if err != nil {
		return runStats{}, err
	}
	defer db.Close()
	out, err := devNull()
	if err != nil {
		return runStats{}, err
	}
	defer out.Close()
	cw := &countingWriter{w: out}
	switch format {
	case "verify":
		rep, err := audit.Verify(ctx, db, nil)
		if err == nil && !rep.Intact() {
			err = fmt.Errorf("the generated log does not verify: seq %d: %s", rep.FirstBad, rep.Problem)
		}
		return runStats{}, err
	case audit.FormatHTML, audit.FormatHTML + "+events":
		res, err := audit.WriteReport(ctx, db, audit.ReportOptions{Version: "bench", Events: format != audit.FormatHTML,
			TempDir: filepath.Dir(path)}, cw)
		if err == nil && !res.Verify.Intact() {
			err = fmt.Errorf("the report says the log is broken at seq %d", res.Verify.FirstBad)
		}
		return runStats{bytes: cw.n}, err
	default:
		_, err := audit.Export(ctx, db, audit.Filter{}, format, cw)
		return runStats{bytes: cw.n}, err
	}
}

// cli runs the built binary: `accessbot audit export --format F --output /dev/null`, or
// `accessbot audit verify`, the whole process.
func cli(ctx context.Context, bin, cfg, format string) (runStats, error) {
	args := []string{"audit", "export", "--config", cfg, "--format", format, "--output", os.DevNull}
	if format == "verify" {
		args = []string{"audit", "verify", "--config", cfg}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+filepath.Dir(cfg))
	if out, err := cmd.CombinedOutput(); err != nil {
		return runStats{}, fmt.Errorf("%s %v: %w\n%s", bin, args, err, out)
	}
	st := runStats{cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		st.maxRSS = int64(ru.Maxrss) * 1024 //nolint:unconvert // Maxrss is kilobytes on Linux, and an int32 on 32-bit platforms
	}
	return st, nil
}

// baseline reads the same rows with a plain SELECT in sequence order on one database/sql
// connection and writes each with the standard library and nothing else: for jsonl, one
// encoding/json Encode of a flat struct per row (the stored data JSON passed through as it
// is); for csv, one encoding/csv Write of the eleven columns; for html, one <tr> per row of
// html.EscapeString'd cells. No filter, no formula guard, no verification, no report model.
func baseline(ctx context.Context, path, format string) (runStats, error) {
	db, err := sql.Open("sqlite", path+"?"+sqliteParams)
	if err != nil {
		return runStats{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	out, err := devNull()
	if err != nil {
		return runStats{}, err
	}
	defer out.Close()
	cw := &countingWriter{w: out}
	bw := bufio.NewWriterSize(cw, 64<<10)
	rows, err := db.QueryContext(ctx, `SELECT seq, at, type, actor, resource, subject, request_id, grant_id,
		data, prev_hash, hash FROM audit_events ORDER BY seq`)
	if err != nil {
		return runStats{}, err
	}
	defer rows.Close()
	type jsonRow struct {
		Seq       int64           `json:"seq"`
		At        string          `json:"at"`
		Type      string          `json:"type"`
		Actor     string          `json:"actor"`
		Resource  string          `json:"resource,omitempty"`
		Subject   string          `json:"subject,omitempty"`
		RequestID string          `json:"request_id,omitempty"`
		GrantID   string          `json:"grant_id,omitempty"`
		Data      json.RawMessage `json:"data,omitempty"`
		PrevHash  string          `json:"prev_hash"`
		Hash      string          `json:"hash"`
	}
	var (
		r    jsonRow
		at   int64
		data string
		enc  = json.NewEncoder(bw)
		csvw = csv.NewWriter(bw)
		rec  = make([]string, 11)
	)
	if format == audit.FormatHTML {
		bw.WriteString("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>audit events</title></head><body><table>\n")
	}
	for rows.Next() {
		if err := rows.Scan(&r.Seq, &at, &r.Type, &r.Actor, &r.Resource, &r.Subject, &r.RequestID, &r.GrantID,
			&data, &r.PrevHash, &r.Hash); err != nil {
			return runStats{}, err
		}
		r.At = time.UnixMicro(at).UTC().Format(time.RFC3339Nano)
		switch format {
		case audit.FormatJSONL:
			r.Data = json.RawMessage(data)
			err = enc.Encode(&r)
		case audit.FormatCSV:
			rec[0], rec[1], rec[2], rec[3], rec[4], rec[5] = strconv.FormatInt(r.Seq, 10), r.At, r.Type, r.Actor, r.Resource, r.Subject
			rec[6], rec[7], rec[8], rec[9], rec[10] = r.RequestID, r.GrantID, data, r.PrevHash, r.Hash
			err = csvw.Write(rec)
		case audit.FormatHTML:
			bw.WriteString("<tr><td>")
			bw.WriteString(strconv.FormatInt(r.Seq, 10))
			for _, c := range []string{r.At, r.Type, r.Actor, r.Resource, r.Subject, r.RequestID, r.GrantID, data, r.PrevHash, r.Hash} {
				bw.WriteString("</td><td>")
				bw.WriteString(html.EscapeString(c))
			}
			_, err = bw.WriteString("</td></tr>\n")
		}
		if err != nil {
			return runStats{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return runStats{}, err
	}
	if format == audit.FormatHTML {
		bw.WriteString("</table></body></html>\n")
	}
	csvw.Flush()
	if err := csvw.Error(); err != nil {
		return runStats{}, err
	}
	if err := bw.Flush(); err != nil {
		return runStats{}, err
	}
	return runStats{bytes: cw.n}, nil
}
