package sink_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/internal/rsyslogtest"
)

var seqField = regexp.MustCompile(`"seq":(\d+)`)

// received counts how often each sequence number reached the server's file.
func received(t *testing.T, srv *rsyslogtest.Server) map[int64]int {
	t.Helper()
	got := map[int64]int{}
	for _, line := range srv.Lines(t) {
		m := seqField.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("a line without a seq: %q", line)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		got[n]++
	}
	return got
}

// checkAllArrived fails t for every sequence number 1..n missing from the server's file.
func checkAllArrived(t *testing.T, srv *rsyslogtest.Server, n int64) {
	t.Helper()
	got := received(t, srv)
	missing := 0
	for seq := int64(1); seq <= n; seq++ {
		if got[seq] == 0 {
			missing++
			if missing <= 10 {
				t.Errorf("event %d never reached rsyslog", seq)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events lost\n%s", missing, n, srv.LogTail())
	}
}

func newRELP(t *testing.T, addr string) *sink.RELP {
	t.Helper()
	s, err := sink.NewRELP(sink.SyslogOptions{Address: addr, Hostname: "bot1", Timeout: 5 * time.Second}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRELPDeliversEveryEventAndTheCursorReachesTheHead(t *testing.T) {
	srv := rsyslogtest.Start(t)
	db := newStore(t)
	events := appendEvents(t, db, 300)
	r := start(t, db, clock.NewFake(t0), newRELP(t, srv.Addr), 50)
	r.f.Notify(testCtx(t), events)
	r.waitFor(t, "the cursor at the head", caughtUp(300))
	checkAllArrived(t, srv, 300)
	lines := srv.Lines(t)
	if len(lines) == 0 || !regexp.MustCompile(`^<\d+>1 \S+ bot1 accessbot \d+ \S+ - \{`).MatchString(lines[0]) {
		t.Errorf("the first line is not a whole RFC 5424 message: %q", lines[0])
	}
}

func TestRELPOverTLSWithAClientCertificate(t *testing.T) {
	srv := rsyslogtest.StartTLS(t)
	db := newStore(t)
	events := appendEvents(t, db, 50)
	s, err := sink.NewRELP(sink.SyslogOptions{Address: srv.Addr, TLS: true, CAFile: srv.TLS.CAFile,
		CertFile: srv.TLS.CertFile, KeyFile: srv.TLS.KeyFile, Timeout: 5 * time.Second}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.String(); got != "relp+tls "+srv.Addr {
		t.Errorf("String = %q", got)
	}
	if err := s.Send(testCtx(t), events); err != nil {
		t.Fatalf("Send: %v\n%s", err, srv.LogTail())
	}
	checkAllArrived(t, srv, 50)
	// imrelp asks for a certificate from its CA: a client without one gets nothing through.
	anon, err := sink.NewRELP(sink.SyslogOptions{Address: srv.Addr, TLS: true, CAFile: srv.TLS.CAFile, Timeout: 2 * time.Second}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if err := anon.Send(testCtx(t), events[:1]); err == nil {
		t.Error("a client without a certificate was acknowledged")
	}
}

// stream sends events in batches as the Forwarder does: a batch whose Send fails is sent again,
// whole, until it is acknowledged. interrupt runs once, after the batch at index at. It
// returns how many Sends failed.
func stream(t *testing.T, s *sink.RELP, events []audit.Event, batch, at int, interrupt func()) (failed int) {
	t.Helper()
	ctx := testCtx(t)
	for i := 0; i < len(events); i += batch {
		b := events[i:min(i+batch, len(events))]
		for attempt := 0; ; attempt++ {
			err := s.Send(ctx, b)
			if err == nil {
				break
			}
			failed++
			if attempt > 200 {
				t.Fatalf("batch at %d never acknowledged: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if i/batch == at {
			interrupt()
		}
	}
	return failed
}

func TestRELPLosesNothingWhenRsyslogRestartsOrIsKilledMidStream(t *testing.T) {
	for _, tt := range []struct {
		name string
		// down takes the server away a moment after the third batch; up brings it back 300ms
		// later on the same port.
		down, up func(srv *rsyslogtest.Server) error
		// sendsFail says whether the outage must make a Send fail (a short freeze is only a
		// wait: the frames are answered when the server runs again).
		sendsFail bool
	}{
		{"a restart", func(srv *rsyslogtest.Server) error { srv.Stop(); return nil },
			(*rsyslogtest.Server).Start, true},
		{"a kill", func(srv *rsyslogtest.Server) error { srv.Kill(); return nil },
			(*rsyslogtest.Server).Start, true},
		// Frames sent to a frozen server sit unread in its socket; killing it then loses them, and
		// they were never answered, so they must be sent again.
		{"a freeze then a kill", (*rsyslogtest.Server).Freeze,
			func(srv *rsyslogtest.Server) error { srv.Kill(); return srv.Start() }, true},
		{"a freeze then a thaw", (*rsyslogtest.Server).Freeze, (*rsyslogtest.Server).Thaw, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := rsyslogtest.Start(t)
			db := newStore(t)
			events := appendEvents(t, db, 2000)
			s := newRELP(t, srv.Addr)
			done := make(chan error, 1)
			failed := stream(t, s, events, 100, 2, func() {
				go func() {
					time.Sleep(5 * time.Millisecond)
					if err := tt.down(srv); err != nil {
						done <- err
						return
					}
					time.Sleep(300 * time.Millisecond)
					done <- tt.up(srv)
				}()
			})
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			checkAllArrived(t, srv, 2000)
			if tt.sendsFail && failed == 0 {
				t.Error("no Send failed: the server went down after the stream, not during it")
			}
			got := received(t, srv)
			dups := 0
			for _, n := range got {
				dups += n - 1
			}
			t.Logf("%d failed Sends, %d events received twice or more", failed, dups)
		})
	}
}

func TestRELPRefusesBadOptions(t *testing.T) {
	if _, err := sink.NewRELP(sink.SyslogOptions{Address: "no-port"}, 0); err == nil {
		t.Error("an address without a port was accepted")
	}
	s, err := sink.NewRELP(sink.SyslogOptions{Address: "127.0.0.1:2514"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "relp 127.0.0.1:2514" {
		t.Errorf("String = %q", got)
	}
}

// fakeRELP is a RELP server that accepts the open and answers the nth syslog frame it receives
// (counted over all connections) as answer says ("" for no answer at all). *frames counts them.
func fakeRELP(t *testing.T, frames *atomic.Int64, answer func(n int) string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					// TXNR SP COMMAND SP DATALEN [SP DATA] LF
					t, err1 := r.ReadString(' ')
					cmd, err2 := r.ReadString(' ')
					l, err3 := readUntil(r, " \n")
					if err1 != nil || err2 != nil || err3 != nil {
						return
					}
					cmd = strings.TrimSpace(cmd)
					txnr, _ := strconv.Atoi(strings.TrimSpace(t))
					length, _ := strconv.Atoi(l[:len(l)-1])
					if length > 0 {
						if _, err := io.ReadFull(r, make([]byte, length+1)); err != nil {
							return
						}
					}
					rsp := "200 OK"
					if cmd == "syslog" {
						rsp = answer(int(frames.Add(1)))
					}
					if cmd == "open" {
						rsp = "200 OK\nrelp_version=0\nrelp_software=fake\ncommands=syslog"
					}
					if rsp != "" {
						fmt.Fprintf(conn, "%d rsp %d %s\n", txnr, len(rsp), rsp)
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

func TestRELPSendSucceedsOnlyWhenEveryFrameIsAnswered200(t *testing.T) {
	db := newStore(t)
	events := appendEvents(t, db, 100)
	for _, tt := range []struct {
		name       string
		answer     func(n int) string
		wantErr    string
		wantFrames int64
	}{
		{"every frame answered 200", func(int) string { return "200 OK" }, "", 100},
		// The last frame, so that every frame was written before the refusal comes back: Send
		// returns at the refusal, and a refusal mid-batch would leave how many frames reached
		// the server to timing.
		{"one frame refused", func(n int) string {
			if n == 100 {
				return "500 no room"
			}
			return "200 OK"
		}, "500 no room", 100},
		// The connection is dropped after the timeout and only frame 99 sent again.
		{"one frame answered only on a new connection", func(n int) string {
			if n == 99 {
				return ""
			}
			return "200 OK"
		}, "", 101},
		{"frames never answered", func(n int) string {
			if n >= 99 {
				return ""
			}
			return "200 OK"
		}, "relp read answer", 102},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var frames atomic.Int64
			s, err := sink.NewRELP(sink.SyslogOptions{Address: fakeRELP(t, &frames, tt.answer), Timeout: 300 * time.Millisecond}, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Send(testCtx(t), events)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Send: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Send = %v, want an error with %q", err, tt.wantErr)
			}
			if got := frames.Load(); got != tt.wantFrames {
				t.Errorf("the server got %d syslog frames, want %d", got, tt.wantFrames)
			}
		})
	}
}

// readUntil reads up to and including the first byte of stops.
func readUntil(r *bufio.Reader, stops string) (string, error) {
	var b []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		b = append(b, c)
		if strings.IndexByte(stops, c) >= 0 {
			return string(b), nil
		}
	}
}
