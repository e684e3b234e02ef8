package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
pkg: github.com/accessbot/accessbot/adapters/postgres
BenchmarkGrantRevoke/membership-2         	     200	   2000000 ns/op	       500.0 ops/s
BenchmarkGrantRevoke/ephemeral-2          	     200	  10000000 ns/op	       100.0 ops/s
BenchmarkApprovedToReturned/membership-2  	     200	   7957127 ns/op	  0.8458 call-p50-ms	  200.0 grants	  0.5 noop-p50-ms	  3.3 noop-p99-ms	  1.5 p50-ms	  6.6 p99-ms	  0 retries
PASS
ok  	github.com/accessbot/accessbot/adapters/postgres	1.243s
pkg: github.com/accessbot/accessbot/adapters/mysql
--- SKIP: BenchmarkGrantRevoke
    mariadbtest.go:99: mariadbd not found
# github.com/accessbot/accessbot/adapters/ldap
adapters/ldap/ldap.go:12:2: undefined: x
FAIL	github.com/accessbot/accessbot/adapters/ldap [build failed]
`

func TestParseReadsBothBenchmarksPerAdapterAndMode(t *testing.T) {
	res := parse(strings.NewReader(sample))
	if len(res.rows) != 2 {
		t.Fatalf("rows = %d, want 2", len(res.rows))
	}
	mem, eph := res.rows[0], res.rows[1]
	if mem.name != "postgres/membership" || mem.cycleNs != 2e6 || mem.metrics["p50-ms"] != 1.5 || mem.metrics["noop-p99-ms"] != 3.3 {
		t.Errorf("membership: %+v", *mem)
	}
	if eph.name != "postgres/ephemeral" || eph.cycleNs != 1e7 || len(eph.metrics) != 0 {
		t.Errorf("ephemeral: %+v", *eph)
	}
	if len(res.problems) != 4 || !strings.Contains(res.problems[0], "mariadbd not found") || !strings.Contains(res.problems[2], "undefined: x") ||
		!strings.Contains(res.problems[3], "build failed") {
		t.Errorf("problems = %q", res.problems)
	}
	r := report{results: res}
	rows := r.rows()
	if rows[0].cycles != "500/s" || rows[0].p50 != "1.50 ms" || rows[0].ratio != "3.0× / 2.0×" || rows[1].p50 != "" {
		t.Errorf("rows = %+v", rows)
	}
}

func TestFlagsRefuseUnknownAdapters(t *testing.T) {
	var sink strings.Builder
	if _, err := parseFlags([]string{"-only", "postgres,oracle"}, &sink); err == nil || !strings.Contains(err.Error(), "oracle") {
		t.Errorf("err = %v", err)
	}
	o, err := parseFlags([]string{"-only", "redis, ldap", "-n", "10"}, &sink)
	if err != nil || len(o.only) != 2 || o.n != 10 {
		t.Errorf("o = %+v, err = %v", o, err)
	}
}
