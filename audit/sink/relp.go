package sink

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// DefaultRELPWindow is how many syslog frames may await their answer at once.
const DefaultRELPWindow = 64

// relpMaxTxnr is the largest RELP transaction number; the next one is 1 again.
const relpMaxTxnr = 999_999_999

// relpMaxAnswer bounds the data of a frame the server sends: answers are a status line and,
// for open, a few offers.
const relpMaxAnswer = 64 << 10

// relpOffers are the offers of the open command: protocol version 0 (the one librelp speaks)
// and the one command used.
const relpOffers = "relp_version=0\nrelp_software=accessbot\ncommands=syslog"

// RELP sends each event as one RFC 5424 message (formatted as the Syslog sink does) in a RELP
// "syslog" frame, the Reliable Event Logging Protocol of rsyslog's imrelp and librelp. Unlike
// plain TCP syslog, the server answers every frame ("rsp" with "200 OK") once it has taken the
// message, so Send returns nil only when every frame of the batch has its 200 answer, and the
// Forwarder's cursor never passes an event the server has not acknowledged.
//
// Up to Window frames are outstanding at once. When the connection breaks mid-batch the sink
// connects again once and resends the frames still unanswered; a second failure returns an
// error and the Forwarder resends the whole batch later. Delivery is therefore at least once:
// a frame whose answer was lost arrives twice, and receivers deduplicate by sequence number.
// TLS, when configured, wraps the connection as librelp's TLS does (the same options as the
// syslog sink).
type RELP struct {
	sys    *Syslog
	window int

	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
	wbuf *bytes.Buffer // frames not yet written
	txnr int           // the last transaction number used on conn
}

// NewRELP checks the options (those of the syslog sink) and builds the sink; window <= 0 means
// DefaultRELPWindow. It does not connect.
func NewRELP(o SyslogOptions, window int) (*RELP, error) {
	sys, err := NewSyslog(o)
	if err != nil {
		return nil, fmt.Errorf("relp sink: %w", err)
	}
	if window <= 0 {
		window = DefaultRELPWindow
	}
	return &RELP{sys: sys, window: window}, nil
}

// String describes the sink.
func (s *RELP) String() string {
	if s.sys.tls != nil {
		return "relp+tls " + s.sys.o.Address
	}
	return "relp " + s.sys.o.Address
}

// Close says close to the server, waits briefly for its answer, and drops the connection; the
// next Send opens another.
func (s *RELP) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	_ = s.conn.SetDeadline(time.Now().Add(time.Second))
	if err := s.writeFrame(s.nextTxnr(), "close", nil); err == nil {
		_, _, _, _ = s.readFrame()
	}
	return s.drop()
}

func (s *RELP) drop() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn, s.r, s.wbuf = nil, nil, nil
	return err
}

func (s *RELP) nextTxnr() int {
	s.txnr++
	if s.txnr > relpMaxTxnr {
		s.txnr = 1
	}
	return s.txnr
}

// Send sends one syslog frame per event and returns once the server has answered every one of
// them with 200, or with an error.
func (s *RELP) Send(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	msgs := make([][]byte, len(events))
	for i, e := range events {
		msg, err := s.sys.Format(e)
		if err != nil {
			return err
		}
		msgs[i] = msg
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	acked := make([]bool, len(msgs))
	var err error
	// A connection found broken mid-batch gets one more try, with only the unanswered frames.
	for attempt := 0; attempt < 2; attempt++ {
		if err = ctx.Err(); err != nil {
			return err
		}
		if err = s.send(ctx, msgs, acked); err == nil {
			return nil
		}
		_ = s.drop()
		var refused relpRefused
		if errors.As(err, &refused) {
			return err
		}
	}
	return err
}

// relpRefused is an answer other than 200: the server read the frame and declined it, which a
// new connection would not change.
type relpRefused struct{ status string }

func (e relpRefused) Error() string { return "relp server refused a message: " + e.status }

// send sends the messages not yet acked on the connection (opened if need be) and marks each
// one acked on its 200 answer.
func (s *RELP) send(ctx context.Context, msgs [][]byte, acked []bool) error {
	if s.conn != nil && !alive(s.conn) {
		_ = s.drop()
	}
	if s.conn == nil {
		if err := s.open(ctx); err != nil {
			return err
		}
	}
	deadline := func() time.Time {
		d := time.Now().Add(s.sys.o.Timeout)
		if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
			d = cd
		}
		return d
	}
	outstanding := map[int]int{} // txnr -> index in msgs
	next := 0
	for {
		for next < len(msgs) && acked[next] {
			next++
		}
		// Fill the window, then wait for answers.
		for next < len(msgs) && len(outstanding) < s.window {
			if !acked[next] {
				txnr := s.nextTxnr()
				_ = s.conn.SetWriteDeadline(deadline())
				if err := s.writeFrame(txnr, "syslog", msgs[next]); err != nil {
					return fmt.Errorf("relp write: %w", err)
				}
				outstanding[txnr] = next
			}
			next++
		}
		if err := s.flush(); err != nil {
			return fmt.Errorf("relp write: %w", err)
		}
		if len(outstanding) == 0 {
			return nil
		}
		_ = s.conn.SetReadDeadline(deadline())
		txnr, cmd, data, err := s.readFrame()
		if err != nil {
			return fmt.Errorf("relp read answer: %w", err)
		}
		switch cmd {
		case "rsp":
		case "serverclose":
			return errors.New("relp server closed the session")
		default:
			return fmt.Errorf("relp server sent an unexpected %q frame", cmd)
		}
		i, ok := outstanding[txnr]
		if !ok {
			return fmt.Errorf("relp server answered transaction %d, which was not sent", txnr)
		}
		if !bytes.HasPrefix(data, []byte("200")) {
			return relpRefused{status: string(firstLine(data))}
		}
		delete(outstanding, txnr)
		acked[i] = true
	}
}

// open connects and opens the RELP session: the open command with its offers, answered 200 by
// a server that accepts the syslog command.
func (s *RELP) open(ctx context.Context) error {
	conn, err := s.sys.dial(ctx)
	if err != nil {
		return err
	}
	s.conn, s.r, s.txnr = conn, bufio.NewReader(conn), 0
	_ = conn.SetDeadline(time.Now().Add(s.sys.o.Timeout))
	defer conn.SetDeadline(time.Time{})
	txnr := s.nextTxnr()
	err = s.writeFrame(txnr, "open", []byte(relpOffers))
	if err == nil {
		err = s.flush()
	}
	if err != nil {
		_ = s.drop()
		return fmt.Errorf("relp open: %w", err)
	}
	got, cmd, data, err := s.readFrame()
	switch {
	case err != nil:
		err = fmt.Errorf("relp open: %w", err)
	case cmd != "rsp" || got != txnr:
		err = fmt.Errorf("relp open: the server answered with %q for transaction %d", cmd, got)
	case !bytes.HasPrefix(data, []byte("200")):
		err = fmt.Errorf("relp open refused: %s", firstLine(data))
	case bytes.Contains(data, []byte("\ncommands=")) && !offersSyslog(data):
		err = errors.New("relp open: the server does not offer the syslog command")
	}
	if err != nil {
		_ = s.drop()
	}
	return err
}

// offersSyslog reports whether the open answer's commands offer names syslog.
func offersSyslog(data []byte) bool {
	for _, line := range bytes.Split(data, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("commands=")); ok {
			for _, c := range bytes.Split(v, []byte(",")) {
				if string(bytes.TrimSpace(c)) == "syslog" {
					return true
				}
			}
		}
	}
	return false
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return b
}

// writeFrame appends "TXNR SP COMMAND SP DATALEN [SP DATA] LF" to the pending frames.
func (s *RELP) writeFrame(txnr int, cmd string, data []byte) error {
	if s.conn == nil {
		return errors.New("not connected")
	}
	// Frames are gathered and written together, one write per window.
	if s.wbuf == nil {
		s.wbuf = new(bytes.Buffer)
	}
	b := s.wbuf
	b.WriteString(strconv.Itoa(txnr))
	b.WriteByte(' ')
	b.WriteString(cmd)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(data)))
	if len(data) > 0 {
		b.WriteByte(' ')
		b.Write(data)
	}
	b.WriteByte('\n')
	if cmd == "close" {
		return s.flush()
	}
	return nil
}

// flush writes the pending frames.
func (s *RELP) flush() error {
	if s.wbuf == nil {
		return nil
	}
	b := s.wbuf
	s.wbuf = nil
	if b.Len() == 0 {
		return nil
	}
	_, err := s.conn.Write(b.Bytes())
	return err
}

// readFrame reads one frame from the server.
func (s *RELP) readFrame() (txnr int, cmd string, data []byte, err error) {
	field := func(what string, limit int) (string, byte, error) {
		var f []byte
		for {
			c, err := s.r.ReadByte()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return "", 0, err
			}
			if c == ' ' || c == '\n' {
				return string(f), c, nil
			}
			if len(f) >= limit {
				return "", 0, fmt.Errorf("relp frame: %s too long", what)
			}
			f = append(f, c)
		}
	}
	t, _, err := field("transaction number", 9)
	if err != nil {
		return 0, "", nil, err
	}
	if txnr, err = strconv.Atoi(t); err != nil || txnr < 0 {
		return 0, "", nil, fmt.Errorf("relp frame: bad transaction number %q", t)
	}
	if cmd, _, err = field("command", 32); err != nil {
		return 0, "", nil, err
	}
	l, sep, err := field("data length", 9)
	if err != nil {
		return 0, "", nil, err
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 0 || n > relpMaxAnswer {
		return 0, "", nil, fmt.Errorf("relp frame: bad data length %q", l)
	}
	if n == 0 {
		if sep != '\n' {
			if c, err := s.r.ReadByte(); err != nil || c != '\n' {
				return 0, "", nil, errors.New("relp frame: no trailer")
			}
		}
		return txnr, cmd, nil, nil
	}
	if sep != ' ' {
		return 0, "", nil, errors.New("relp frame: no data after its length")
	}
	data = make([]byte, n+1)
	if _, err := io.ReadFull(s.r, data); err != nil {
		return 0, "", nil, err
	}
	if data[n] != '\n' {
		return 0, "", nil, errors.New("relp frame: no trailer")
	}
	return txnr, cmd, data[:n], nil
}
