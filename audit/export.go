package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// CSVHeader is the first row of a CSV export.
var CSVHeader = []string{"seq", "at", "type", "actor", "resource", "subject", "request_id",
	"grant_id", "data", "prev_hash", "hash"}

// Export writes the events f selects to w, in sequence order, and returns how many it wrote.
//
// "jsonl" writes one Event as JSON per line. "csv" writes CSVHeader and then one row per event,
// with the time in RFC 3339 UTC and the data as a JSON object. A CSV cell that a spreadsheet
// would run as a formula (starting with = + - @, a tab or a carriage return) gets a leading
// apostrophe: event fields such as a reason are typed by users. "html" writes the auditor's
// report of the period (WriteReport, with its defaults) and returns how many events of the
// period f selects.
func Export(ctx context.Context, src Source, f Filter, format string, w io.Writer) (int64, error) {
	if format == FormatHTML {
		res, err := WriteReport(ctx, src, ReportOptions{Filter: f}, w)
		return res.Summary.Events, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var (
		n     int64
		write func(Event) error
		flush func() error
	)
	switch format {
	case FormatJSONL:
		var jw jsonLine
		write = func(e Event) error {
			line, err := jw.appendEvent(jw.buf[:0], &e)
			if err != nil {
				return err
			}
			jw.buf = line
			_, err = bw.Write(line)
			return err
		}
		flush = bw.Flush
	case FormatCSV:
		cw := csv.NewWriter(bw)
		if err := cw.Write(CSVHeader); err != nil {
			return 0, fmt.Errorf("write csv header: %w", err)
		}
		record := make([]string, len(CSVHeader))
		var jw jsonLine
		write = func(e Event) error {
			// What json.Marshal(e.Data) writes, without reflection.
			jw.buf = jw.appendMap(jw.buf[:0], e.Data, appendJSONString)
			data := jw.buf
			record[0] = strconv.FormatInt(e.Seq, 10)
			record[1] = e.At.UTC().Format(time.RFC3339Nano)
			record[2] = e.Type
			record[3] = e.Actor
			record[4] = e.Resource
			record[5] = e.Subject
			record[6] = e.RequestID
			record[7] = e.GrantID
			record[8] = string(data)
			record[9] = e.PrevHash
			record[10] = e.Hash
			for i := range record {
				record[i] = csvSafe(record[i])
			}
			return cw.Write(record)
		}
		flush = func() error {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			return bw.Flush()
		}
	default:
		return 0, fmt.Errorf("export format %q is not supported (use jsonl, csv or html)", format)
	}
	err := scanAhead(ctx, src, f, func(e *Event) error {
		if err := write(*e); err != nil {
			return fmt.Errorf("write event %d: %w", e.Seq, err)
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	if err := flush(); err != nil {
		return n, fmt.Errorf("write export: %w", err)
	}
	return n, nil
}

// csvSafe defuses a cell that spreadsheets would evaluate as a formula.
func csvSafe(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

const (
	aheadBatch   = 512 // events handed over at a time
	aheadBatches = 6   // batches in flight
)

// scanAhead calls fn for every event f selects, in sequence order, like src.ScanAudit, but on
// a goroutine of its own while the scan reads and decodes the rows that follow, in batches:
// on two cores, reading a row from SQLite costs about as much as writing it out. An error from
// fn stops the scan and is returned; fn is never called again after it.
func scanAhead(ctx context.Context, src Source, f Filter, fn func(*Event) error) error {
	readCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	full := make(chan []Event, aheadBatches)
	free := make(chan []Event, aheadBatches)
	for range aheadBatches {
		free <- make([]Event, 0, aheadBatch)
	}
	done := make(chan error, 1)
	go func() {
		var err error
		for batch := range full {
			for i := 0; err == nil && i < len(batch); i++ {
				if err = fn(&batch[i]); err != nil {
					cancel(err) // stop the reader
				}
			}
			clear(batch)
			free <- batch[:0]
		}
		done <- err
	}()
	batch := <-free
	err := src.ScanAudit(readCtx, f, func(e Event) error {
		batch = append(batch, e)
		if len(batch) < aheadBatch {
			return nil
		}
		select {
		case full <- batch:
		case <-readCtx.Done():
			return context.Cause(readCtx)
		}
		select {
		case batch = <-free:
			return nil
		case <-readCtx.Done():
			return context.Cause(readCtx)
		}
	})
	if err == nil && len(batch) > 0 {
		full <- batch
	}
	close(full)
	if werr := <-done; werr != nil {
		return werr
	}
	return err
}

// jsonLine writes an Event as encoding/json (with SetEscapeHTML(false)) writes it, byte for
// byte, without reflection: plain text is copied, and any string that needs escaping goes
// through encoding/json itself. TestExportMatchesEncodingJSON holds the two together.
type jsonLine struct {
	buf     []byte
	keys    []string
	scratch bytes.Buffer
	enc     *json.Encoder
}

// appendEvent appends e as one line of JSON Lines.
func (j *jsonLine) appendEvent(b []byte, e *Event) ([]byte, error) {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"at":`...)
	if y := e.At.Year(); y < 0 || y > 9999 {
		t, err := json.Marshal(e.At) // the error encoding/json gives for such a time
		if err != nil {
			return b, fmt.Errorf("encode event %d: %w", e.Seq, err)
		}
		b = append(b, t...)
	} else {
		b = append(b, '"')
		b = e.At.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"type":`...)
	b = j.appendString(b, e.Type)
	b = append(b, `,"actor":`...)
	b = j.appendString(b, e.Actor)
	for _, f := range [...]struct{ name, v string }{
		{`,"resource":`, e.Resource}, {`,"subject":`, e.Subject},
		{`,"request_id":`, e.RequestID}, {`,"grant_id":`, e.GrantID},
	} {
		if f.v != "" {
			b = append(b, f.name...)
			b = j.appendString(b, f.v)
		}
	}
	if len(e.Data) > 0 {
		b = append(b, `,"data":`...)
		b = j.appendMap(b, e.Data, j.appendString)
	}
	b = append(b, `,"prev_hash":`...)
	b = j.appendString(b, e.PrevHash)
	b = append(b, `,"hash":`...)
	b = j.appendString(b, e.Hash)
	return append(b, "}\n"...), nil
}

// appendMap appends m as a JSON object with sorted keys ({} when empty), each string written
// by str.
func (j *jsonLine) appendMap(b []byte, m map[string]string, str func([]byte, string) []byte) []byte {
	j.keys = j.keys[:0]
	for k := range m {
		j.keys = append(j.keys, k)
	}
	slices.Sort(j.keys)
	b = append(b, '{')
	for i, k := range j.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = str(b, k)
		b = append(b, ':')
		b = str(b, m[k])
	}
	clear(j.keys)
	return append(b, '}')
}

// appendString appends s as a JSON string the way an encoding/json Encoder with
// SetEscapeHTML(false) does.
func (j *jsonLine) appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			if j.enc == nil {
				j.enc = json.NewEncoder(&j.scratch)
				j.enc.SetEscapeHTML(false)
			}
			j.scratch.Reset()
			if err := j.enc.Encode(s); err != nil {
				panic(err) // a string always encodes
			}
			return append(b, bytes.TrimSuffix(j.scratch.Bytes(), []byte("\n"))...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
