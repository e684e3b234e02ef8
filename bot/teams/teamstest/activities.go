package teamstest

import "fmt"

// Conversation types, as Teams names them.
const (
	Personal = "personal"
	Channel  = "channel"
)

// activity is the frame of every activity Teams sends a bot.
func (s *Server) activity(kind string, from Member, conv, convType string) map[string]any {
	s.mu.Lock()
	s.nextID++
	id := fmt.Sprintf("f:%d", s.nextID)
	s.mu.Unlock()
	return map[string]any{
		"type":       kind,
		"id":         id,
		"channelId":  ChannelID,
		"serviceUrl": s.ServiceURL(),
		"from":       map[string]string{"id": from.ID, "name": from.Name, "aadObjectId": from.AADObjectID},
		"recipient":  map[string]string{"id": "28:" + AppID, "name": "accessbot"},
		"conversation": map[string]any{
			"id": conv, "conversationType": convType, "tenantId": TenantID, "isGroup": convType != Personal,
		},
		"channelData": map[string]any{"tenant": map[string]string{"id": TenantID}},
	}
}

// Message is a message from a user to the bot; in a channel the text holds the bot's mention.
func (s *Server) Message(from Member, conv, convType, text string) map[string]any {
	a := s.activity("message", from, conv, convType)
	if convType != Personal {
		text = "<at>accessbot</at> " + text
	}
	a["text"] = text
	a["textFormat"] = "plain"
	return a
}

// Submit is an Action.Submit of a card: a message whose value is the button's data with the
// card's inputs.
func (s *Server) Submit(from Member, conv, convType string, data map[string]any) map[string]any {
	a := s.activity("message", from, conv, convType)
	a["value"] = data
	return a
}

// Invoke is the adaptiveCard/action invoke of an Action.Execute click (or of a card's
// refresh, with verb "refresh" and trigger automatic).
func (s *Server) Invoke(from Member, conv, convType, verb string, data map[string]any) map[string]any {
	a := s.activity("invoke", from, conv, convType)
	a["name"] = "adaptiveCard/action"
	trigger := "manual"
	if verb == "refresh" {
		trigger = "automatic"
	}
	a["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": verb, "data": data}, "trigger": trigger}
	return a
}
