package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
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
// apostrophe: event fields such as a reason are typed by users.
func Export(ctx context.Context, src Source, f Filter, format string, w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	var (
		n     int64
		write func(Event) error
		flush func() error
	)
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		write = func(e Event) error { return enc.Encode(e) }
		flush = bw.Flush
	case FormatCSV:
		cw := csv.NewWriter(bw)
		if err := cw.Write(CSVHeader); err != nil {
			return 0, fmt.Errorf("write csv header: %w", err)
		}
		record := make([]string, len(CSVHeader))
		write = func(e Event) error {
			data := []byte("{}")
			if len(e.Data) > 0 {
				var err error
				if data, err = json.Marshal(e.Data); err != nil {
					return fmt.Errorf("encode data of seq %d: %w", e.Seq, err)
				}
			}
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
		return 0, fmt.Errorf("export format %q is not supported (use jsonl or csv)", format)
	}
	err := src.ScanAudit(ctx, f, func(e Event) error {
		if err := write(e); err != nil {
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
