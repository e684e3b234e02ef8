package discordtest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// gatewayPayload is a gateway message: op, data, sequence, event name.
type gatewayPayload struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int            `json:"s,omitempty"`
	T  string          `json:"t,omitempty"`
}

// serveGateway plays Discord's gateway: Hello, then Identify checked against the bot token,
// then Ready; heartbeats are acknowledged. Push sends dispatches on the connection.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.gwMu.Lock()
	if s.gw != nil {
		s.gw.Close()
	}
	s.gw = conn
	s.gwMu.Unlock()
	hello, _ := json.Marshal(map[string]any{"heartbeat_interval": 45000})
	if s.send(gatewayPayload{Op: 10, D: hello}) != nil {
		return
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var p gatewayPayload
		if json.Unmarshal(data, &p) != nil {
			continue
		}
		switch p.Op {
		case 1: // heartbeat
			_ = s.send(gatewayPayload{Op: 11})
		case 2: // identify
			var id struct {
				Token string `json:"token"`
			}
			_ = json.Unmarshal(p.D, &id)
			s.mu.Lock()
			ok := id.Token == "Bot "+s.token || id.Token == s.token
			s.mu.Unlock()
			if !ok {
				s.gwMu.Lock()
				_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed."), time.Now().Add(time.Second))
				s.gwMu.Unlock()
				conn.Close()
				return
			}
			ready, _ := json.Marshal(map[string]any{
				"v": 10, "session_id": "fake-session", "resume_gateway_url": "ws://127.0.0.1:1/unused",
				"user":        map[string]any{"id": BotUserID, "username": "accessbot", "bot": true},
				"guilds":      []any{map[string]any{"id": GuildID, "unavailable": true}},
				"application": map[string]any{"id": ApplicationID, "flags": 0},
			})
			if s.dispatch("READY", ready) != nil {
				return
			}
			select {
			case <-s.identified:
			default:
				close(s.identified)
			}
		}
	}
}

func (s *Server) send(p gatewayPayload) error {
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	if s.gw == nil {
		return websocket.ErrCloseSent
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.gw.WriteMessage(websocket.TextMessage, b)
}

func (s *Server) dispatch(event string, d json.RawMessage) error {
	s.gwMu.Lock()
	s.seq++
	seq := s.seq
	s.gwMu.Unlock()
	return s.send(gatewayPayload{Op: 0, T: event, S: &seq, D: d})
}

// WaitIdentified waits until a gateway client has identified with the bot token.
func (s *Server) WaitIdentified(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-s.identified:
	case <-time.After(timeout):
		t.Fatalf("no gateway client identified within %s", timeout)
	}
}

// Push sends an interaction over the gateway as an INTERACTION_CREATE dispatch.
func (s *Server) Push(t testing.TB, i *Interaction) {
	t.Helper()
	if err := s.dispatch("INTERACTION_CREATE", i.JSON()); err != nil {
		t.Fatalf("push an interaction over the gateway: %v", err)
	}
}
