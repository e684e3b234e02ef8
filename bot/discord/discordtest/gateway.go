package discordtest

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
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

// gatewayConn is one gateway session: its websocket, and its own sequence of dispatches.
type gatewayConn struct {
	mu         sync.Mutex // serialises writes to ws and guards the fields below
	ws         *websocket.Conn
	seq        int
	identified bool
}

func (c *gatewayConn) send(p gatewayPayload) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(p)
}

func (c *gatewayConn) sendLocked(p gatewayPayload) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// dispatch sends an event with this session's next sequence number.
func (c *gatewayConn) dispatch(event string, d json.RawMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	seq := c.seq
	return c.sendLocked(gatewayPayload{Op: 0, T: event, S: &seq, D: d})
}

// serveGateway plays Discord's gateway: Hello, then Identify checked against the bot token,
// then Ready; heartbeats are acknowledged. Push sends dispatches to every identified session.
func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &gatewayConn{ws: ws}
	s.gwMu.Lock()
	s.gws[c] = true
	s.gwMu.Unlock()
	defer func() {
		s.gwMu.Lock()
		delete(s.gws, c)
		s.gwMu.Unlock()
		ws.Close()
	}()
	hello, _ := json.Marshal(map[string]any{"heartbeat_interval": 45000})
	if c.send(gatewayPayload{Op: 10, D: hello}) != nil {
		return
	}
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var p gatewayPayload
		if json.Unmarshal(data, &p) != nil {
			continue
		}
		switch p.Op {
		case 1: // heartbeat
			_ = c.send(gatewayPayload{Op: 11})
		case 2: // identify
			var id struct {
				Token string `json:"token"`
			}
			_ = json.Unmarshal(p.D, &id)
			s.mu.Lock()
			ok := id.Token == "Bot "+s.token || id.Token == s.token
			s.mu.Unlock()
			if !ok {
				c.mu.Lock()
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed."), time.Now().Add(time.Second))
				c.mu.Unlock()
				return
			}
			ready, _ := json.Marshal(map[string]any{
				"v": 10, "session_id": "fake-session", "resume_gateway_url": "ws://127.0.0.1:1/unused",
				"user":        map[string]any{"id": BotUserID, "username": "accessbot", "bot": true},
				"guilds":      []any{map[string]any{"id": GuildID, "unavailable": true}},
				"application": map[string]any{"id": ApplicationID, "flags": 0},
			})
			if c.dispatch("READY", ready) != nil {
				return
			}
			c.mu.Lock()
			c.identified = true
			c.mu.Unlock()
			s.gwMu.Lock()
			select {
			case <-s.identified:
			default:
				close(s.identified)
			}
			s.gwMu.Unlock()
		}
	}
}

// sessions returns the open connections that have identified.
func (s *Server) sessions() []*gatewayConn {
	s.gwMu.Lock()
	defer s.gwMu.Unlock()
	var out []*gatewayConn
	for c := range s.gws {
		c.mu.Lock()
		if c.identified {
			out = append(out, c)
		}
		c.mu.Unlock()
	}
	return out
}

// GatewaySessions counts the gateway sessions open now (identified, not yet closed): one per
// bot process that receives interactions over the gateway.
func (s *Server) GatewaySessions() int { return len(s.sessions()) }

// WaitIdentified waits until a gateway client has identified with the bot token.
func (s *Server) WaitIdentified(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-s.identified:
	case <-time.After(timeout):
		t.Fatalf("no gateway client identified within %s", timeout)
	}
}

// Push sends an interaction over the gateway as an INTERACTION_CREATE dispatch, to every open
// session, as Discord does to each session of a bot that does not shard. It returns how many
// sessions it was sent to; none is a test failure.
func (s *Server) Push(t testing.TB, i *Interaction) int {
	t.Helper()
	sessions := s.sessions()
	if len(sessions) == 0 {
		t.Fatal("push an interaction over the gateway: no session is open")
	}
	var errs []error
	for _, c := range sessions {
		errs = append(errs, c.dispatch("INTERACTION_CREATE", i.JSON()))
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("push an interaction over the gateway: %v", err)
	}
	return len(sessions)
}
