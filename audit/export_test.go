package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
)

func TestExportJSONLinesWritesOneEventPerLine(t *testing.T) {
	s := newChain(5)
	var buf bytes.Buffer
	n, err := audit.Export(context.Background(), s, audit.Filter{Resource: "ssh"}, "jsonl", &buf)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if n != 3 || len(lines) != 3 {
		t.Fatalf("wrote %d events in %d lines, want the 3 ssh events:\n%s", n, len(lines), buf.String())
	}
	for i, line := range lines {
		var got audit.Event
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d is not an event: %v", i+1, err)
		}
		want := s.events[2*i] // events 1, 3, 5
		if !got.At.Equal(want.At) {
			t.Errorf("line %d at %v, want %v", i+1, got.At, want.At)
		}
		got.At = want.At
		if !reflect.DeepEqual(got, want) {
			t.Errorf("line %d:\n got %+v\nwant %+v", i+1, got, want)
		}
		// An exported event can be checked against its hash by anyone.
		if audit.ComputeHash(got.PrevHash, got) != got.Hash {
			t.Errorf("line %d: the exported event does not match its hash", i+1)
		}
	}
}

func TestExportCSVHasAHeaderAndOneRowPerEvent(t *testing.T) {
	s := newChain(4)
	var buf bytes.Buffer
	n, err := audit.Export(context.Background(), s, audit.Filter{Since: t0.Add(2 * time.Minute), Until: t0.Add(4 * time.Minute)}, "csv", &buf)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(rows) != 3 {
		t.Fatalf("wrote %d events, %d rows, want header + events 2 and 3: %v", n, len(rows), rows)
	}
	if !reflect.DeepEqual(rows[0], audit.CSVHeader) {
		t.Errorf("header %v", rows[0])
	}
	e := s.events[1]
	want := []string{"2", "2026-01-05T08:02:00Z", e.Type, e.Actor, e.Resource, e.Subject, e.RequestID, "",
		`{"reason":"INC-2"}`, e.PrevHash, e.Hash}
	if !reflect.DeepEqual(rows[1], want) {
		t.Errorf("row for seq 2:\n got %q\nwant %q", rows[1], want)
	}
}

func TestExportCSVDefusesFormulas(t *testing.T) {
	s := &memSource{head: audit.EmptyHead()}
	s.append(audit.Event{At: t0, Type: audit.RequestCreated, Actor: "=HYPERLINK(\"http://evil\")",
		Resource: "+1", Subject: "-2", RequestID: "@SUM(A1)", GrantID: "\tx",
		Data: map[string]string{"reason": "=cmd"}})
	s.append(audit.Event{At: t0, Type: audit.RequestCreated, Actor: "a=b", Resource: "plain"})
	var buf bytes.Buffer
	if _, err := audit.Export(context.Background(), s, audit.Filter{}, "csv", &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := rows[1][3:8]
	want := []string{"'=HYPERLINK(\"http://evil\")", "'+1", "'-2", "'@SUM(A1)", "'\tx"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells %q, want %q", got, want)
	}
	if rows[1][8] != `{"reason":"=cmd"}` {
		t.Errorf("data cell %q: JSON starts with { and needs no defusing", rows[1][8])
	}
	if rows[2][3] != "a=b" || rows[2][4] != "plain" {
		t.Errorf("harmless cells changed: %q", rows[2])
	}
	if rows[2][8] != "{}" {
		t.Errorf("empty data cell %q, want {}", rows[2][8])
	}
}

func TestExportRejectsAnUnknownFormat(t *testing.T) {
	var buf bytes.Buffer
	_, err := audit.Export(context.Background(), newChain(1), audit.Filter{}, "xml", &buf)
	if err == nil || !strings.Contains(err.Error(), "xml") {
		t.Fatalf("err = %v, want one naming the format", err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q for an unknown format", buf.String())
	}
}

func TestExportReturnsWriteErrors(t *testing.T) {
	for _, format := range []string{"jsonl", "csv"} {
		t.Run(format, func(t *testing.T) {
			_, err := audit.Export(context.Background(), newChain(5000), audit.Filter{}, format, failingWriter{})
			if !errors.Is(err, errFull) {
				t.Fatalf("err = %v, want the writer's error", err)
			}
		})
	}
}

var errFull = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errFull }
