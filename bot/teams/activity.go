package teams

import "encoding/json"

// The activity types and the invoke name accessbot handles.
const (
	ActivityMessage = "message"
	ActivityInvoke  = "invoke"
	// InvokeCardAction is the invoke of an Adaptive Card's Action.Execute (Universal Actions).
	InvokeCardAction = "adaptiveCard/action"
	// ChannelTeams is the Bot Framework channel ID of Microsoft Teams.
	ChannelTeams = "msteams"
)

// Conversation types of Teams.
const (
	ConversationPersonal = "personal"
	ConversationChannel  = "channel"
	ConversationGroup    = "groupChat"
)

// Activity is the part of a Bot Framework activity accessbot reads and sends.
type Activity struct {
	Type         string            `json:"type"`
	ID           string            `json:"id,omitempty"`
	Name         string            `json:"name,omitempty"`
	ChannelID    string            `json:"channelId,omitempty"`
	ServiceURL   string            `json:"serviceUrl,omitempty"`
	From         *Account          `json:"from,omitempty"`
	Recipient    *Account          `json:"recipient,omitempty"`
	Conversation *Conversation     `json:"conversation,omitempty"`
	ReplyToID    string            `json:"replyToId,omitempty"`
	Text         string            `json:"text,omitempty"`
	TextFormat   string            `json:"textFormat,omitempty"`
	Attachments  []Attachment      `json:"attachments,omitempty"`
	Value        json.RawMessage   `json:"value,omitempty"`
	ChannelData  *ChannelData      `json:"channelData,omitempty"`
	Summary      string            `json:"summary,omitempty"`
	Entities     []json.RawMessage `json:"entities,omitempty"`
}

// Account is a user or bot in an activity.
type Account struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	AADObjectID string `json:"aadObjectId,omitempty"`
}

// Conversation is where an activity happens.
type Conversation struct {
	ID               string `json:"id"`
	ConversationType string `json:"conversationType,omitempty"`
	TenantID         string `json:"tenantId,omitempty"`
	IsGroup          bool   `json:"isGroup,omitempty"`
}

// ChannelData is Teams' part of an activity: the tenant it comes from.
type ChannelData struct {
	Tenant *Tenant `json:"tenant,omitempty"`
}

// Tenant names an Entra ID tenant.
type Tenant struct {
	ID string `json:"id"`
}

// Attachment is a card in a message.
type Attachment struct {
	ContentType string `json:"contentType"`
	Content     any    `json:"content"`
}

// ContentTypeCard is an Adaptive Card's content type, in attachments and invoke responses.
const ContentTypeCard = "application/vnd.microsoft.card.adaptive"

// tenantOf returns the tenant an activity names: channelData's, else the conversation's.
func (a *Activity) tenantOf() string {
	if a.ChannelData != nil && a.ChannelData.Tenant != nil && a.ChannelData.Tenant.ID != "" {
		return a.ChannelData.Tenant.ID
	}
	if a.Conversation != nil {
		return a.Conversation.TenantID
	}
	return ""
}

// Member is what the connector's member API says of a user (TeamsChannelAccount).
type Member struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	AADObjectID       string `json:"aadObjectId"`
	Email             string `json:"email"`
	UserPrincipalName string `json:"userPrincipalName"`
	TenantID          string `json:"tenantId"`
	// UserRole is "user", "guest" or "anonymous".
	UserRole string `json:"userRole"`
}

// CardAction is the value of an adaptiveCard/action invoke.
type CardAction struct {
	Action struct {
		Type string         `json:"type"`
		Verb string         `json:"verb"`
		Data map[string]any `json:"data"`
	} `json:"action"`
	Trigger string `json:"trigger"`
}

// InvokeResponse is the answer to an adaptiveCard/action invoke: the card that replaces the
// one clicked, for the person who clicked, or a message.
type InvokeResponse struct {
	StatusCode int    `json:"statusCode"`
	Type       string `json:"type"`
	Value      any    `json:"value"`
}

// ContentTypeMessage is an invoke response that shows a message instead of a card.
const ContentTypeMessage = "application/vnd.microsoft.activity.message"
