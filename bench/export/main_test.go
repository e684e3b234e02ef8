package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/storage"
)

// The generated log is a real chain of request lives, and the report over it lists them.
func TestGeneratedLogVerifiesAndMakesGrants(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	st, err := fill(ctx, path, 5000)
	if err != nil {
		t.Fatal(err)
	}
	db, err := storage.Open(ctx, storage.Options{Driver: storage.SQLite, DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := audit.WriteReport(ctx, db, audit.ReportOptions{}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if !res.Verify.Intact() || res.Verify.Events != 5000 || s.Events != 5000 {
		t.Fatalf("verify %+v, %d events", res.Verify, s.Events)
	}
	// Requests queued at the very end may not have reached the log: at most a few.
	if s.Requests > st.Requests || s.Requests < st.Requests-5 || s.Grants > st.Grants || s.Grants < st.Grants-5 {
		t.Errorf("report: %d requests, %d grants; generated %d and %d", s.Requests, s.Grants, st.Requests, st.Grants)
	}
	for name, n := range map[string]int{"approved": s.Approved, "auto": s.AutoApproved, "denied": s.Denied, "expired": s.Expired,
		"on time": s.RevokedOnTime, "early": s.RevokedEarly, "refused": s.RefusedRequests, "config": s.ConfigLoads} {
		if n == 0 {
			t.Errorf("no %s in the generated log: %+v", name, s)
		}
	}
}

func TestTheProgramRunsSmall(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-events", "3000", "-runs", "1", "-no-cli", "-markdown", "-tmp", t.TempDir()}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"| jsonl | `audit.Export` (in process) |", "| csv |", "| html | `audit.WriteReport` (in process) |", "| html --events |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
