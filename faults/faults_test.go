package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/faults/internal/fixture"
)

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildBinary builds accessbot once for the package's tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "faults-bin-"); built.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		built.bin, built.err = fixture.BuildBinary(ctx, built.dir)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// TestCrashInjectionShort is the short form of `go run ./faults`: a handful of SIGKILLs at
// aimed points of the lifecycle, the checks after every restart, and the final check once every
// grant has ended. FAULTS_KILLS and FAULTS_SEED override the number of kills and the seed.
func TestCrashInjectionShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds accessbot, runs PostgreSQL and kills serve repeatedly")
	}
	t.Parallel()
	kills, seed := 6, uint64(time.Now().UnixNano()%1_000_000)
	if v, err := strconv.Atoi(os.Getenv("FAULTS_KILLS")); err == nil && v > 0 {
		kills = v
	}
	if v, err := strconv.ParseUint(os.Getenv("FAULTS_SEED"), 10, 64); err == nil && v > 0 {
		seed = v
	}
	bin := buildBinary(t)
	var out bytes.Buffer
	o := crashOptions{Kills: kills, Seed: seed, Bin: bin, Dir: t.TempDir(), Out: &out, Verbose: testing.Verbose()}
	res, err := runCrash(context.Background(), t, o)
	if res != nil {
		res.print(&out, o)
	}
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if len(res.Kills) != kills {
		t.Errorf("seed %d: %d kills, want %d", seed, len(res.Kills), kills)
	}
	if f := res.Failures(false); len(f) > 0 {
		t.Errorf("seed %d: %d violation(s):\n%s", seed, len(f), summarize(f))
	}
	if res.Grants["revoked"] == 0 {
		t.Errorf("seed %d: no grant was made and revoked; the load did not run", seed)
	}
}
