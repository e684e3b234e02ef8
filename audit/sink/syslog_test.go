package sink_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/internal/clock"
	"github.com/accessbot/accessbot/storage"
)

// syslogReceiver is a syslog server: it reads octet-counted frames (RFC 6587) and parses each
// message as RFC 5424.
type syslogReceiver struct {
	t    *testing.T
	tls  *tls.Config // nil: plain TCP
	addr string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	msgs  []syslogMsg
	wg    sync.WaitGroup
	// onMessage is told of every message.
	onMessage chan syslogMsg
}

type syslogMsg struct {
	pri                                 int
	timestamp, host, app, procID, msgID string
	sd                                  string
	event                               audit.Event
}

func newSyslogReceiver(t *testing.T, cfg *tls.Config) *syslogReceiver {
	r := &syslogReceiver{t: t, tls: cfg, conns: map[net.Conn]bool{}, onMessage: make(chan syslogMsg, 10000)}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *syslogReceiver) start() {
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		r.t.Fatalf("listen on %s: %v", addr, err)
	}
	if r.tls != nil {
		ln = tls.NewListener(ln, r.tls)
	}
	r.mu.Lock()
	r.ln, r.addr = ln, ln.Addr().String()
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns[conn] = true
			r.mu.Unlock()
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.read(conn)
			}()
		}
	}()
}

// stop closes the listener and every connection: the server is gone.
func (r *syslogReceiver) stop() {
	r.mu.Lock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

var rfc5424 = regexp.MustCompile(`(?s)^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) (.*)$`)

func (r *syslogReceiver) read(conn net.Conn) {
	defer func() {
		conn.Close()
		r.mu.Lock()
		delete(r.conns, conn)
		r.mu.Unlock()
	}()
	br := bufio.NewReader(conn)
	for {
		n, err := br.ReadString(' ')
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && n != "" {
				r.t.Errorf("syslog receiver: read frame length: %v", err)
			}
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil || size <= 0 || size > 1<<20 {
			r.t.Errorf("syslog receiver: bad frame length %q", n)
			return
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(br, buf); err != nil {
			r.t.Errorf("syslog receiver: frame cut short: %v", err)
			return
		}
		m := rfc5424.FindStringSubmatch(string(buf))
		if m == nil {
			r.t.Errorf("syslog receiver: not RFC 5424: %q", buf)
			return
		}
		msg := syslogMsg{timestamp: m[2], host: m[3], app: m[4], procID: m[5], msgID: m[6], sd: m[7]}
		msg.pri, _ = strconv.Atoi(m[1])
		if err := json.Unmarshal([]byte(m[8]), &msg.event); err != nil {
			r.t.Errorf("syslog receiver: MSG is not an event: %q", m[8])
			return
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, msg)
		r.mu.Unlock()
		r.onMessage <- msg
	}
}

func (r *syslogReceiver) messages() []syslogMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]syslogMsg(nil), r.msgs...)
}

func (r *syslogReceiver) received() []delivered {
	var out []delivered
	for _, m := range r.messages() {
		// TCP acknowledges nothing the receiver could see: count everything as acknowledged.
		out = append(out, delivered{seq: m.event.Seq, acked: true})
	}
	return out
}

func newSyslogSink(t *testing.T, o sink.SyslogOptions) *sink.Syslog {
	t.Helper()
	s, err := sink.NewSyslog(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSyslogSendsRFC5424MessagesInOctetCountedFrames(t *testing.T) {
	db := newStore(t)
	events := appendEvents(t, db, 6)
	r := newSyslogReceiver(t, nil)
	local0 := sink.FacilityLocal0
	s := newSyslogSink(t, sink.SyslogOptions{Address: r.addr, Hostname: "bastion 1", Facility: &local0})
	if err := s.Send(testCtx(t), events); err != nil {
		t.Fatal(err)
	}
	msgs := waitMessages(t, r.onMessage, 6)
	severity := map[string]int{audit.AlertRaised: 4, audit.RequestRefused: 5}
	for i, m := range msgs {
		e := events[i]
		sev, ok := severity[e.Type]
		if !ok {
			sev = 6
		}
		if m.pri != 16*8+sev {
			t.Errorf("event %d (%s): PRI %d, want local0 (16) * 8 + %d", e.Seq, e.Type, m.pri, sev)
		}
		if ts, err := time.Parse(time.RFC3339Nano, m.timestamp); err != nil || !ts.Equal(e.At) || !strings.HasSuffix(m.timestamp, ".123456Z") {
			t.Errorf("event %d: TIMESTAMP %q, want %s with microseconds", e.Seq, m.timestamp, e.At)
		}
		if m.host != "bastion_1" || m.app != "accessbot" || m.procID != strconv.Itoa(os.Getpid()) || m.msgID != e.Type || m.sd != "-" {
			t.Errorf("event %d: HOSTNAME %q APP-NAME %q PROCID %q MSGID %q SD %q", e.Seq, m.host, m.app, m.procID, m.msgID, m.sd)
		}
		checkEvent(t, m.event)
		if m.event.Seq != e.Seq || m.event.Data["reason"] != e.Data["reason"] {
			t.Errorf("MSG %+v, want event %+v", m.event, e)
		}
	}
}

func TestSyslogDefaultsToAuthpriv(t *testing.T) {
	db := newStore(t)
	events := appendEvents(t, db, 1) // request.approved: informational
	r := newSyslogReceiver(t, nil)
	s := newSyslogSink(t, sink.SyslogOptions{Address: r.addr})
	if err := s.Send(testCtx(t), events); err != nil {
		t.Fatal(err)
	}
	m := waitMessages(t, r.onMessage, 1)[0]
	if m.pri != 10*8+6 {
		t.Errorf("PRI %d, want authpriv.info = 86", m.pri)
	}
	if host, _ := os.Hostname(); host != "" && m.host != host {
		t.Errorf("HOSTNAME %q, want %q", m.host, host)
	}
}

func TestSyslogOverTLSWithAClientCertificate(t *testing.T) {
	db := newStore(t)
	events := appendEvents(t, db, 3)
	pki := newPKI(t)
	r := newSyslogReceiver(t, pki.serverTLS())
	s := newSyslogSink(t, sink.SyslogOptions{Address: r.addr, TLS: true, CAFile: pki.caFile,
		ServerName: "syslog.test", CertFile: pki.clientCert, KeyFile: pki.clientKey})
	if err := s.Send(testCtx(t), events); err != nil {
		t.Fatal(err)
	}
	if msgs := waitMessages(t, r.onMessage, 3); msgs[2].event.Seq != 3 {
		t.Errorf("got %+v", msgs)
	}
	if !strings.HasPrefix(s.String(), "syslog+tls ") {
		t.Errorf("String() = %q", s.String())
	}

	// A server the CA did not sign is refused, and so is a name the certificate does not hold.
	other := newPKI(t)
	for name, o := range map[string]sink.SyslogOptions{
		"another CA":   {Address: r.addr, TLS: true, CAFile: other.caFile, ServerName: "syslog.test", CertFile: pki.clientCert, KeyFile: pki.clientKey},
		"another name": {Address: r.addr, TLS: true, CAFile: pki.caFile, ServerName: "elsewhere.test", CertFile: pki.clientCert, KeyFile: pki.clientKey},
	} {
		bad := newSyslogSink(t, o)
		if err := bad.Send(testCtx(t), events); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: err = %v, want a certificate error", name, err)
		}
	}
}

func TestNewSyslogChecksItsOptions(t *testing.T) {
	pki := newPKI(t)
	bad := 24
	for name, o := range map[string]sink.SyslogOptions{
		"no port":              {Address: "syslog.example.com"},
		"port 0":               {Address: "syslog.example.com:0"},
		"facility 24":          {Address: "h:514", Facility: &bad},
		"ca_file without tls":  {Address: "h:514", CAFile: pki.caFile},
		"a missing ca_file":    {Address: "h:6514", TLS: true, CAFile: filepath.Join(t.TempDir(), "none.pem")},
		"a ca_file of no PEM":  {Address: "h:6514", TLS: true, CAFile: pki.clientKey + ".nothing"},
		"a cert without a key": {Address: "h:6514", TLS: true, CertFile: pki.clientCert},
	} {
		if name == "a ca_file of no PEM" {
			os.WriteFile(o.CAFile, []byte("not pem"), 0o600)
		}
		if _, err := sink.NewSyslog(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The syslog server closes its connections and goes away; the sink notices the closed
// connection, keeps failing to connect, and catches up when the server is back.
func TestSyslogSinkCatchesUpAfterAnOutage(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "tls"}[withTLS], func(t *testing.T) {
			db := newStore(t)
			o := sink.SyslogOptions{Hostname: "accessbot-test", Timeout: 5 * time.Second}
			var cfg *tls.Config
			if withTLS {
				pki := newPKI(t)
				cfg = pki.serverTLS()
				o.TLS, o.CAFile, o.ServerName, o.CertFile, o.KeyFile = true, pki.caFile, "syslog.test", pki.clientCert, pki.clientKey
			}
			r := newSyslogReceiver(t, cfg)
			o.Address = r.addr
			s := newSyslogSink(t, o)
			catchUp(t, db, clock.NewFake(t0), s, outage{down: r.stop, up: r.start, received: r.received,
				settle: func(seq int64) { r.waitSeq(t, seq) }})
		})
	}
}

// waitSeq waits until the receiver has read event seq.
func (r *syslogReceiver) waitSeq(t *testing.T, seq int64) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case m := <-r.onMessage:
			if m.event.Seq >= seq {
				return
			}
		case <-timeout:
			t.Fatalf("the receiver never read event %d", seq)
		}
	}
}

func waitMessages(t *testing.T, ch chan syslogMsg, n int) []syslogMsg {
	t.Helper()
	var out []syslogMsg
	timeout := time.After(deadline)
	for len(out) < n {
		select {
		case m := <-ch:
			out = append(out, m)
		case <-timeout:
			t.Fatalf("received %d of %d messages", len(out), n)
		}
	}
	return out
}

// pki is a CA, a server certificate for syslog.test and 127.0.0.1, and a client certificate,
// in PEM files.
type pki struct {
	t                             *testing.T
	ca                            *x509.Certificate
	caKey                         *ecdsa.PrivateKey
	caFile, clientCert, clientKey string
	serverCert                    tls.Certificate
	pool                          *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{t: t, pool: x509.NewCertPool()}
	p.caKey = newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "accessbot test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.pool.AddCert(p.ca)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", der)

	serverDER, serverKey := p.issue(2, &x509.Certificate{
		Subject: pkix.Name{CommonName: "syslog.test"}, DNSNames: []string{"syslog.test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.serverCert = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}

	clientDER, clientKey := p.issue(3, &x509.Certificate{
		Subject: pkix.Name{CommonName: "accessbot"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p.clientCert = writePEM(t, dir, "client.pem", "CERTIFICATE", clientDER)
	keyDER, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	p.clientKey = writePEM(t, dir, "client-key.pem", "EC PRIVATE KEY", keyDER)
	return p
}

func (p *pki) issue(serial int64, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey) {
	key := newKey(p.t)
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	return der, key
}

// serverTLS is the server's config: its certificate, and client certificates required.
func (p *pki) serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.serverCert}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: p.pool, MinVersion: tls.VersionTLS12}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// appendReason appends one request.created event whose reason is the given text.
func appendReason(t *testing.T, db *storage.DB, reason string) audit.Event {
	t.Helper()
	e, err := db.AppendAudit(testCtx(t), audit.Event{At: t0, Type: audit.RequestCreated, Actor: "alice@example.com",
		Resource: "prod-db", Subject: "alice@example.com", RequestID: "r-long",
		Data: map[string]string{"reason": reason, "duration": "1h"}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAnOversizeEventIsSentTruncatedWithItsSeqAndHashNotCutByTheServer(t *testing.T) {
	db := newStore(t)
	// The issue's event: 3,950 bytes of `"\` pairs, each byte doubled by JSON's escaping.
	long := appendReason(t, db, strings.Repeat(`"\`, 1975))
	short := appendReason(t, db, "INC-1 \"quoted\"")
	r := newSyslogReceiver(t, nil)
	s := newSyslogSink(t, sink.SyslogOptions{Address: r.addr})

	whole, err := json.Marshal(long)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) <= sink.DefaultMaxMessageSize {
		t.Fatalf("the event's JSON is %d bytes: the test needs one over %d", len(whole), sink.DefaultMaxMessageSize)
	}
	msg, err := s.Format(long)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) > sink.DefaultMaxMessageSize {
		t.Errorf("formatted oversize event is %d bytes, over the default max_message_size %d", len(msg), sink.DefaultMaxMessageSize)
	}
	if len(msg) < sink.DefaultMaxMessageSize-64 {
		t.Errorf("formatted oversize event is %d bytes: cut far more than needed to fit %d", len(msg), sink.DefaultMaxMessageSize)
	}

	if err := s.Send(testCtx(t), []audit.Event{long, short}); err != nil {
		t.Fatal(err)
	}
	msgs := waitMessages(t, r.onMessage, 2)
	got := msgs[0]
	wantSD := fmt.Sprintf(`[accessbot@32473 truncated="true" seq="%d" hash="%s" size="%d"]`, long.Seq, long.Hash, len(whole))
	if got.sd != wantSD {
		t.Errorf("SD %q, want %q", got.sd, wantSD)
	}
	if got.event.Seq != long.Seq || got.event.Hash != long.Hash || got.event.PrevHash != long.PrevHash {
		t.Errorf("truncated event seq %d hash %s, want %d %s", got.event.Seq, got.event.Hash, long.Seq, long.Hash)
	}
	reason := got.event.Data["reason"]
	if !strings.HasSuffix(reason, "...[truncated]") || !strings.HasPrefix(long.Data["reason"], strings.TrimSuffix(reason, "...[truncated]")) {
		t.Errorf("truncated reason %q: want a prefix of the reason ending in the marker", reason)
	}
	if got.event.Data["duration"] != "1h" {
		t.Errorf("the short data value was cut too: %q", got.event.Data["duration"])
	}
	// The event itself is whole in the log: its hash identifies it.
	stored := exportEvent(t, db, got.event.Seq)
	if stored.Hash != got.event.Hash || stored.Data["reason"] != long.Data["reason"] {
		t.Errorf("the log's event %d is not the whole one sent truncated", got.event.Seq)
	}
	checkEvent(t, stored)

	// An event that fits is sent as before.
	if msgs[1].sd != "-" || msgs[1].event.Data["reason"] != short.Data["reason"] {
		t.Errorf("an event that fits: SD %q reason %q", msgs[1].sd, msgs[1].event.Data["reason"])
	}
	checkEvent(t, msgs[1].event)
}

func TestTruncationFitsEveryMaxMessageSizeAndKeepsCharactersWhole(t *testing.T) {
	db := newStore(t)
	e := appendReason(t, db, strings.Repeat("é\"<", 3000))
	for _, size := range []int{sink.MinMessageSize, 1500, 4096, 8192, 65536} {
		s := newSyslogSink(t, sink.SyslogOptions{Address: "127.0.0.1:514", Hostname: strings.Repeat("h", 300), MaxMessageSize: size})
		msg, err := s.Format(e)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) > size {
			t.Errorf("max_message_size %d: message of %d bytes", size, len(msg))
		}
		m := rfc5424.FindStringSubmatch(string(msg))
		if m == nil {
			t.Fatalf("max_message_size %d: not RFC 5424: %q", size, msg)
		}
		var got audit.Event
		if err := json.Unmarshal([]byte(m[8]), &got); err != nil || !utf8.ValidString(got.Data["reason"]) {
			t.Errorf("max_message_size %d: MSG is not a whole event in valid UTF-8 (%v)", size, err)
		}
		// The event's JSON is about 15,000 bytes: only 65536 holds it whole.
		truncated := size < 65536
		if got.Seq != e.Seq || got.Hash != e.Hash || strings.Contains(m[7], `truncated="true"`) != truncated ||
			(got.Data["reason"] == e.Data["reason"]) == truncated {
			t.Errorf("max_message_size %d: seq %d hash %q SD %q, want truncated %v", size, got.Seq, got.Hash, m[7], truncated)
		}
	}
}

func TestAMaxMessageSizeTooSmallForAnyEventIsRefused(t *testing.T) {
	_, err := sink.NewSyslog(sink.SyslogOptions{Address: "127.0.0.1:514", MaxMessageSize: 480})
	if err == nil || !strings.Contains(err.Error(), "max_message_size 480 is below 1024") {
		t.Errorf("NewSyslog with max_message_size 480: %v", err)
	}
}

// exportEvent reads one event from the log, as `accessbot audit export` does.
func exportEvent(t *testing.T, db *storage.DB, seq int64) audit.Event {
	t.Helper()
	var out audit.Event
	err := db.ScanAudit(testCtx(t), audit.Filter{AfterSeq: seq - 1, MaxSeq: seq}, func(e audit.Event) error {
		out = e
		return nil
	})
	if err != nil || out.Seq != seq {
		t.Fatalf("read event %d: %v", seq, err)
	}
	return out
}
