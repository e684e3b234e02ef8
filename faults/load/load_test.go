package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/accessbot/accessbot/faults/internal/fixture"
)

// TestLoadSmall keeps the load program working: 50 requesters and 50 approvers at once, grants
// of 3–5 s, every one revoked within a second of its expiry.
func TestLoadSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds accessbot and runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := fixture.BuildBinary(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	o := options{People: 50, MinGrant: 3 * time.Second, MaxGrant: 5 * time.Second, Seed: 1, Bin: bin, Dir: dir}
	res, err := run(ctx, t, o)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res.print(&out, o)
	t.Log("\n" + out.String())
	for _, p := range res.Problems {
		t.Error(p)
	}
}
