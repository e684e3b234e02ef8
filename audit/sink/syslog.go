package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// Syslog facilities (RFC 5424 section 6.2.1) that suit an audit log.
const (
	FacilityAuth     = 4
	FacilityAuthPriv = 10
	FacilityLocal0   = 16
)

// Syslog severities used.
const (
	severityWarning = 4
	severityNotice  = 5
	severityInfo    = 6
)

// AppName is the APP-NAME of every syslog message.
const AppName = "accessbot"

// SyslogOptions configure a syslog sink.
type SyslogOptions struct {
	// Address is the server's host:port.
	Address string
	// TLS turns on TLS; CAFile (PEM) replaces the system roots, ServerName the name checked in
	// the server's certificate (default: the host of Address), CertFile and KeyFile (PEM) are
	// a client certificate for servers that ask for one.
	TLS                                   bool
	CAFile, ServerName, CertFile, KeyFile string
	// Facility is 0-23; default 10 (authpriv).
	Facility *int
	// Hostname is the HOSTNAME field; default os.Hostname().
	Hostname string
	// Timeout bounds connecting and each batch's write; default 10s.
	Timeout time.Duration
}

// Syslog writes each event as one RFC 5424 message over TCP, framed by octet counting
// (RFC 6587 section 3.4.1: "LEN SP MSG"), optionally in TLS (RFC 5425). MSGID is the event
// type, STRUCTURED-DATA is "-", and MSG is the event as JSON (MSG-ANY: no BOM, which JSON
// parsers reject). The severity is warning for alerts, break-glass use, failed revocations
// and failed authentications, notice for refusals, informational otherwise.
//
// TCP has no acknowledgement of its own: a batch counts as acknowledged once written. The
// connection is checked before each batch and reopened when the server has closed it; a
// server that dies with events still in its socket buffer can lose them (use the RELP sink or
// the webhook when that matters).
type Syslog struct {
	o        SyslogOptions
	tls      *tls.Config
	facility int
	hostname string
	procID   string

	mu   sync.Mutex
	conn net.Conn
}

// NewSyslog checks the options, loads the TLS files and builds the sink. It does not connect.
func NewSyslog(o SyslogOptions) (*Syslog, error) {
	host, port, err := net.SplitHostPort(o.Address)
	if err != nil || host == "" {
		return nil, fmt.Errorf("syslog sink: address %q is not host:port", o.Address)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("syslog sink: address %q has no valid port", o.Address)
	}
	s := &Syslog{o: o, facility: FacilityAuthPriv, procID: strconv.Itoa(os.Getpid())}
	if o.Facility != nil {
		if *o.Facility < 0 || *o.Facility > 23 {
			return nil, fmt.Errorf("syslog sink: facility %d is not 0-23", *o.Facility)
		}
		s.facility = *o.Facility
	}
	if s.o.Timeout <= 0 {
		s.o.Timeout = DefaultTimeout
	}
	s.hostname = o.Hostname
	if s.hostname == "" {
		s.hostname, _ = os.Hostname()
	}
	s.hostname = headerField(s.hostname, 255)
	if o.TLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("syslog sink: read ca_file: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("syslog sink: ca_file %s holds no PEM certificate", o.CAFile)
			}
		}
		if (o.CertFile == "") != (o.KeyFile == "") {
			return nil, errors.New("syslog sink: cert_file and key_file go together")
		}
		if o.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("syslog sink: client certificate: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		s.tls = cfg
	} else if o.CAFile != "" || o.CertFile != "" || o.KeyFile != "" || o.ServerName != "" {
		return nil, errors.New("syslog sink: ca_file, server_name, cert_file and key_file need tls")
	}
	return s, nil
}

// String describes the sink.
func (s *Syslog) String() string {
	if s.tls != nil {
		return "syslog+tls " + s.o.Address
	}
	return "syslog " + s.o.Address
}

// Close closes the connection; the next Send opens another.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked()
}

func (s *Syslog) closeLocked() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// Send writes one frame per event. On any error the connection is dropped, so the batch is
// sent again, whole, on a new one.
func (s *Syslog) Send(ctx context.Context, events []audit.Event) error {
	var buf bytes.Buffer
	for _, e := range events {
		msg, err := s.Format(e)
		if err != nil {
			return err
		}
		buf.WriteString(strconv.Itoa(len(msg)))
		buf.WriteByte(' ')
		buf.Write(msg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && !alive(s.conn) {
		_ = s.closeLocked()
	}
	if s.conn == nil {
		conn, err := s.dial(ctx)
		if err != nil {
			return err
		}
		s.conn = conn
	}
	deadline := time.Now().Add(s.o.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = s.conn.SetWriteDeadline(deadline)
	if _, err := s.conn.Write(buf.Bytes()); err != nil {
		_ = s.closeLocked()
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (s *Syslog) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	if s.tls == nil {
		conn, err := d.DialContext(ctx, "tcp", s.o.Address)
		if err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		return conn, nil
	}
	td := &tls.Dialer{NetDialer: d, Config: s.tls}
	conn, err := td.DialContext(ctx, "tcp", s.o.Address)
	if err != nil {
		return nil, fmt.Errorf("connect with TLS: %w", err)
	}
	return conn, nil
}

// alive reports whether the server still holds the connection open. A syslog server never
// writes, so anything but a timeout on a tiny read (EOF, a reset, unexpected data) means the
// connection is no good.
func alive(conn net.Conn) bool {
	_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer conn.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := conn.Read(b[:])
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// Format returns the RFC 5424 message for one event, without framing.
func (s *Syslog) Format(e audit.Event) ([]byte, error) {
	body, err := marshalEvent(e)
	if err != nil {
		return nil, fmt.Errorf("encode audit event %d: %w", e.Seq, err)
	}
	msgID := headerField(e.Type, 32)
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%d>1 %s %s %s %s %s - ", s.facility*8+severity(e.Type),
		e.At.UTC().Format("2006-01-02T15:04:05.000000Z"), s.hostname, AppName, s.procID, msgID)
	b.Write(body)
	return b.Bytes(), nil
}

func severity(eventType string) int {
	switch eventType {
	case audit.AlertRaised, audit.BreakGlassUsed, audit.GrantRevokeFailed, audit.AuthFailed:
		return severityWarning
	case audit.RequestRefused, audit.ReviewRefused, audit.GrantFailed:
		return severityNotice
	}
	return severityInfo
}

// headerField makes s a valid RFC 5424 header field: printable US-ASCII without spaces, at
// most limit characters, "-" when empty.
func headerField(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return '_'
		}
		return r
	}, s)
	if len(s) > limit {
		s = s[:limit]
	}
	if s == "" {
		return "-"
	}
	return s
}

// marshalEvent encodes one event as JSON without a trailing newline and without escaping
// HTML characters.
func marshalEvent(e audit.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
