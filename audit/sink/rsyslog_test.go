package sink_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/internal/servertest"
)

// rsyslog is a private rsyslogd with its default maxMessageSize (8k), receiving octet-counted
// TCP syslog and writing each message's raw text as one line of out.
type rsyslog struct {
	addr, out string
}

// startRsyslog runs rsyslogd (Debian package rsyslog) until the test ends.
func startRsyslog(t *testing.T) *rsyslog {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/rsyslogd"); serr != nil {
			servertest.Handle(t, servertest.Unavailable{Msg: "rsyslogd not found; install it: apt-get install rsyslog"})
		}
		bin = "/usr/sbin/rsyslogd"
	}
	port, err := servertest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &rsyslog{addr: fmt.Sprintf("127.0.0.1:%d", port), out: filepath.Join(dir, "out.log")}
	conf := fmt.Sprintf(`global(workDirectory=%q)
module(load="imtcp")
input(type="imtcp" port="%d" address="127.0.0.1")
template(name="raw" type="string" string="%%rawmsg%%\n")
action(type="omfile" file=%q template="raw" flushOnTXEnd="on")
`, dir, port, r.out)
	if err := os.WriteFile(filepath.Join(dir, "rsyslog.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "rsyslogd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-n", "-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslogd.pid"))
	servertest.Prepare(cmd, dir, nil, syscall.SIGKILL)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", r.addr); err == nil {
			c.Close()
			break
		}
		if time.Since(start) > deadline {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("rsyslogd did not listen on %s: %s", r.addr, b)
		}
	}
	return r
}

// lines waits until out holds a line that contains end, and returns its lines.
func (r *rsyslog) lines(t *testing.T, end string) []string {
	t.Helper()
	for start := time.Now(); time.Since(start) < deadline; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(r.out)
		if bytes.Contains(b, []byte(end)) {
			return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		}
	}
	t.Fatalf("rsyslogd wrote no line with %q", end)
	return nil
}

func TestRsyslogKeepsAnOversizeEventWholeOnceTruncated(t *testing.T) {
	db := newStore(t)
	long := appendReason(t, db, strings.Repeat(`"\`, 1975))
	r := startRsyslog(t)

	// Without the limit, rsyslog's default 8k cuts the message: the test can tell.
	s := newSyslogSink(t, sink.SyslogOptions{Address: r.addr, Hostname: "uncut", MaxMessageSize: 1 << 20})
	uncut, err := s.Format(long)
	if err != nil {
		t.Fatal(err)
	}
	marker := appendReason(t, db, "marker-1")
	if err := s.Send(testCtx(t), []audit.Event{long, marker}); err != nil {
		t.Fatal(err)
	}
	lines := r.lines(t, "marker-1")
	firstLine := lines[0]
	if len(uncut) <= sink.DefaultMaxMessageSize || lines[0] == string(uncut) {
		t.Fatalf("an %d-byte message reached rsyslog whole: the test cannot show a cut", len(uncut))
	}

	// With the default max_message_size, the message rsyslog writes is the one sent.
	s = newSyslogSink(t, sink.SyslogOptions{Address: r.addr, Hostname: "truncated"})
	msg, err := s.Format(long)
	if err != nil {
		t.Fatal(err)
	}
	marker = appendReason(t, db, "marker-2")
	if err := s.Send(testCtx(t), []audit.Event{long, marker}); err != nil {
		t.Fatal(err)
	}
	lines = r.lines(t, "marker-2")
	t.Logf("the uncut event: %d bytes sent, %d kept by rsyslog; truncated: %d bytes sent", len(uncut), len(firstLine), len(msg))
	var got []string
	for _, l := range lines {
		if strings.Contains(l, " truncated accessbot ") {
			got = append(got, l)
		}
	}
	if len(got) != 2 {
		t.Fatalf("rsyslog wrote %d lines from the truncating sink, want 2 (the long event, then the marker event): %.300q", len(got), got)
	}
	if got[0] != string(msg) {
		n := 0 // where rsyslog's line departs from what was sent
		for n < len(got[0]) && n < len(msg) && got[0][n] == msg[n] {
			n++
		}
		t.Errorf("rsyslog wrote %d bytes of the %d-byte message (the same for %d), want it whole", len(got[0]), len(msg), n)
	}
	if !strings.Contains(got[0], fmt.Sprintf(`truncated="true" seq="%d" hash="%s"`, long.Seq, long.Hash)) {
		t.Errorf("the message rsyslog kept lacks the truncation marker with seq and hash")
	}
}
