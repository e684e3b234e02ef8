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
	"unicode/utf8"

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
	// MaxMessageSize is the longest message (without its framing) the server keeps whole;
	// default 8096, what rsyslog keeps by default (its "8k" maxMessageSize: rsyslogd 8.2302
	// writes the first 8096 bytes of a longer message). Longer events are sent truncated
	// (see Format).
	MaxMessageSize int
}

// Message sizes of SyslogOptions.MaxMessageSize.
const (
	DefaultMaxMessageSize = 8096
	// MinMessageSize leaves room for the longest header, the truncation marker and an event's
	// identifying fields.
	MinMessageSize = 1024
)

// truncatedSDID is the SD-ID of the structured data that marks a truncated event; 32473 is the
// private enterprise number reserved for documentation (RFC 5612), as no number is registered.
const truncatedSDID = "accessbot@32473"

// truncMarker ends every data value cut short in a truncated event.
const truncMarker = "...[truncated]"

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
	if s.o.MaxMessageSize == 0 {
		s.o.MaxMessageSize = DefaultMaxMessageSize
	}
	if s.o.MaxMessageSize < MinMessageSize {
		return nil, fmt.Errorf("syslog sink: max_message_size %d is below %d", s.o.MaxMessageSize, MinMessageSize)
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
// writes, so anything waiting to be read (EOF, a reset, unexpected data such as TLS's
// close_notify) means the connection is no good. It peeks at the socket without waiting
// (peekClosed) where it can: a read with a short deadline, the fallback, can time out before
// it looks at all when the process is busy, and a batch written on a connection the server has
// already closed is accepted by the kernel and lost.
func alive(conn net.Conn) bool {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if closed, ok := peekClosed(conn); ok {
		return !closed
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer conn.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := conn.Read(b[:])
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// Format returns the RFC 5424 message for one event, without framing. An event whose message
// would exceed MaxMessageSize (a long reason, worse once JSON escapes it) is not cut anywhere by
// the server: Format cuts its longest data values, each ending in "...[truncated]", as little as
// fits, and sets STRUCTURED-DATA to [accessbot@32473 truncated="true" seq="N" hash="H"
// size="B"] (B: the whole body's bytes). The whole event is in the log: `accessbot audit
// export` finds it by seq, and its hash proves it is the one sent.
func (s *Syslog) Format(e audit.Event) ([]byte, error) {
	body, err := marshalEvent(e)
	if err != nil {
		return nil, fmt.Errorf("encode audit event %d: %w", e.Seq, err)
	}
	msgID := headerField(e.Type, 32)
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%d>1 %s %s %s %s %s ", s.facility*8+severity(e.Type),
		e.At.UTC().Format("2006-01-02T15:04:05.000000Z"), s.hostname, AppName, s.procID, msgID)
	if b.Len()+len("- ")+len(body) <= s.o.MaxMessageSize {
		b.WriteString("- ")
		b.Write(body)
		return b.Bytes(), nil
	}
	fmt.Fprintf(&b, `[%s truncated="true" seq="%d" hash="%s" size="%d"] `, truncatedSDID, e.Seq, sdValue(e.Hash), len(body))
	b.Write(shrink(e, s.o.MaxMessageSize-b.Len()))
	return b.Bytes(), nil
}

// shrink returns the event's JSON in at most room bytes: its data values cut to the largest
// length that fits (found by bisection, as escaping makes the encoded size unknowable in
// advance), or, should even empty values not fit, only the fields that identify the event.
func shrink(e audit.Event, room int) []byte {
	longest := 0
	for _, v := range e.Data {
		longest = max(longest, len(v))
	}
	var best []byte
	for lo, hi := 0, longest; lo <= hi; {
		limit := lo + (hi-lo)/2
		if b, err := marshalEvent(capData(e, limit)); err == nil && len(b) <= room {
			best, lo = b, limit+1
		} else {
			hi = limit - 1
		}
	}
	if best != nil {
		return best
	}
	b, _ := json.Marshal(struct {
		Seq      int64  `json:"seq"`
		Type     string `json:"type"`
		PrevHash string `json:"prev_hash"`
		Hash     string `json:"hash"`
	}{e.Seq, headerField(e.Type, 32), e.PrevHash, e.Hash})
	return b
}

// capData returns e with every data value longer than limit bytes cut, at a character
// boundary, to at most limit bytes including truncMarker.
func capData(e audit.Event, limit int) audit.Event {
	data := make(map[string]string, len(e.Data))
	for k, v := range e.Data {
		if len(v) > limit {
			cut := max(0, limit-len(truncMarker))
			for cut > 0 && !utf8.RuneStart(v[cut]) {
				cut--
			}
			v = v[:cut] + truncMarker
		}
		data[k] = v
	}
	e.Data = data
	return e
}

// sdValue escapes a structured-data parameter value (RFC 5424 section 6.3.3).
func sdValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(v)
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
