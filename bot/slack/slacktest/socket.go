package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{
	// Slack's client sends Origin: https://api.slack.com, which is not this host.
	CheckOrigin: func(*http.Request) bool { return true },
}

// pingEvery keeps the client's dead-connection timer (30s by default) from firing.
const pingEvery = 5 * time.Second

// serveSocket is the Socket Mode websocket: it says hello, pings, and records every ack.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	old := s.socket
	s.socket = conn
	s.recordLocked(Call{Method: "socket.connect", Path: r.URL.Path})
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}

	if err := s.writeSocket(conn, map[string]any{
		"type": "hello", "num_connections": 1,
		"connection_info": map[string]any{"app_id": "A0FAKE"},
		"debug_info":      map[string]any{"host": "fake"},
	}); err != nil {
		conn.Close()
		return
	}
	go s.pinger(conn)
	defer func() {
		s.mu.Lock()
		if s.socket == conn {
			s.socket = nil
		}
		s.mu.Unlock()
		conn.Close()
	}()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(data, &ack) != nil || ack.EnvelopeID == "" {
			continue
		}
		s.mu.Lock()
		payload := ack.Payload
		if payload == nil {
			payload = json.RawMessage("null")
		}
		s.acks[ack.EnvelopeID] = payload
		s.recordLocked(Call{Method: "socket.ack", Args: map[string][]string{"envelope_id": {ack.EnvelopeID}}})
		s.mu.Unlock()
	}
}

func (s *Server) pinger(conn *websocket.Conn) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		s.socketMu.Lock()
		err := conn.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
		s.socketMu.Unlock()
		if err != nil {
			return
		}
		select {
		case <-t.C:
		case <-s.done:
			return
		}
	}
}

func (s *Server) writeSocket(conn *websocket.Conn, v any) error {
	s.socketMu.Lock()
	defer s.socketMu.Unlock()
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return conn.WriteJSON(v)
}

// WaitForSocket waits until a Socket Mode client is connected.
func (s *Server) WaitForSocket(ctx context.Context) error {
	for {
		s.mu.Lock()
		connected, changed := s.socket != nil, s.changed
		s.mu.Unlock()
		if connected {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("no Socket Mode client connected: %w", ctx.Err())
		}
	}
}

// Envelope types Push sends.
const (
	EnvelopeSlashCommands = "slash_commands"
	EnvelopeInteractive   = "interactive"
	EnvelopeEventsAPI     = "events_api"
)

// Push sends a Socket Mode envelope of the given type with payload (JSON) to the connected
// client and returns its envelope ID.
func (s *Server) Push(typ string, payload []byte) (string, error) {
	s.mu.Lock()
	conn := s.socket
	s.nextID++
	id := fmt.Sprintf("env-%06d", s.nextID)
	s.mu.Unlock()
	if conn == nil {
		return "", errors.New("no Socket Mode client connected")
	}
	err := s.writeSocket(conn, map[string]any{
		"envelope_id":              id,
		"type":                     typ,
		"payload":                  json.RawMessage(payload),
		"accepts_response_payload": typ != EnvelopeEventsAPI,
		"retry_attempt":            0,
		"retry_reason":             "",
	})
	if err != nil {
		return "", fmt.Errorf("push envelope: %w", err)
	}
	return id, nil
}

// AckOf waits for the acknowledgement of an envelope and returns its payload ("null" for an
// acknowledgement without one).
func (s *Server) AckOf(ctx context.Context, envelopeID string) (json.RawMessage, error) {
	for {
		s.mu.Lock()
		payload, ok := s.acks[envelopeID]
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return payload, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("no ack of envelope %s: %w", envelopeID, ctx.Err())
		}
	}
}

// Disconnect asks the client to reconnect, as Slack does from time to time.
func (s *Server) Disconnect() error {
	s.mu.Lock()
	conn := s.socket
	s.mu.Unlock()
	if conn == nil {
		return errors.New("no Socket Mode client connected")
	}
	return s.writeSocket(conn, map[string]any{"type": "disconnect", "reason": "refresh_requested"})
}
