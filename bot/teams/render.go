package teams

import (
	"sort"
	"strings"

	"github.com/accessbot/accessbot/bot"
)

// CardVersion is the Adaptive Card schema version of every card: 1.4 is the first with
// Action.Execute, which Teams renders on desktop, web and mobile.
const CardVersion = "1.4"

// VerbRefresh is the verb of a card's refresh action: Teams invokes it when a person named in
// the card's refresh userIds sees the card, for the card as that person may use it.
const VerbRefresh = "refresh"

// VerbSubmit is the verb of a form card's submit button.
const VerbSubmit = bot.ActionSubmit

// maxRefreshUsers is the most user IDs Teams accepts in a card's refresh.
const maxRefreshUsers = 60

// Card is an Adaptive Card.
type Card struct {
	Type    string     `json:"type"`
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Body    []Element  `json:"body"`
	Actions []Action   `json:"actions,omitempty"`
	Refresh *Refresh   `json:"refresh,omitempty"`
	MSTeams *CardTeams `json:"msteams,omitempty"`
}

// CardTeams is Teams' part of a card: full width, so that fields do not wrap early.
type CardTeams struct {
	Width string `json:"width"`
	// Entities are the card's mentions (mention.go).
	Entities []Mention `json:"entities,omitempty"`
}

// Element is one element of a card's body: a TextBlock, FactSet, CodeBlock, Image or input.
type Element struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	// TextBlock
	Text     string `json:"text,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Size     string `json:"size,omitempty"`
	Color    string `json:"color,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Wrap     bool   `json:"wrap,omitempty"`
	Spacing  string `json:"spacing,omitempty"`
	// FactSet
	Facts []Fact `json:"facts,omitempty"`
	// CodeBlock (Teams): shown as it is, never read as markdown.
	CodeSnippet string `json:"codeSnippet,omitempty"`
	Language    string `json:"language,omitempty"`
	// Image
	URL     string `json:"url,omitempty"`
	AltText string `json:"altText,omitempty"`
	// Inputs
	Label        string   `json:"label,omitempty"`
	Placeholder  string   `json:"placeholder,omitempty"`
	Value        string   `json:"value,omitempty"`
	IsMultiline  bool     `json:"isMultiline,omitempty"`
	IsRequired   bool     `json:"isRequired,omitempty"`
	ErrorMessage string   `json:"errorMessage,omitempty"`
	Choices      []Choice `json:"choices,omitempty"`
	Style        string   `json:"style,omitempty"`
}

// Fact is one label/value pair of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Choice is one choice of an Input.ChoiceSet.
type Choice struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Action is an Action.Execute: a button whose click comes back as an adaptiveCard/action
// invoke with its verb and data (and the card's inputs merged into data).
type Action struct {
	Type  string     `json:"type"`
	Title string     `json:"title"`
	Verb  string     `json:"verb"`
	Data  ActionData `json:"data"`
	Style string     `json:"style,omitempty"`
}

// ActionData is what a button carries back: the action, the object it names and, for a form,
// the form's ID. It only names things: what a click may do is decided on the server.
type ActionData struct {
	Action string `json:"action"`
	Value  string `json:"value,omitempty"`
	Form   string `json:"form,omitempty"`
}

// Refresh asks Teams to fetch the card again, for each of UserIDs, when they see it.
type Refresh struct {
	Action  Action   `json:"action"`
	UserIDs []string `json:"userIds"`
}

func newCard() Card {
	return Card{Type: "AdaptiveCard", Schema: "http://adaptivecards.io/schemas/adaptive-card.json",
		Version: CardVersion, Body: []Element{}, MSTeams: &CardTeams{Width: "Full"}}
}

// toneColor is a title's colour by tone.
var toneColor = map[bot.Tone]string{
	bot.ToneNeutral: "Default",
	bot.TonePending: "Accent",
	bot.ToneSuccess: "Good",
	bot.ToneWarning: "Warning",
	bot.ToneDanger:  "Attention",
}

// Render turns a View into a card: the title in its tone's colour, the text, the fields as a
// FactSet, the secret as a CodeBlock (verbatim), the footer small, and the buttons as
// Action.Execute.
func Render(v bot.View) Card {
	c := newCard()
	if v.Title != "" {
		c.Body = append(c.Body, Element{Type: "TextBlock", Text: escape(v.Title), Weight: "Bolder", Size: "Medium",
			Color: toneColor[v.Tone], Wrap: true})
	}
	for _, para := range strings.Split(v.Text, "\n\n") {
		if para = strings.TrimSpace(para); para != "" {
			c.Body = append(c.Body, Element{Type: "TextBlock", Text: escape(para), Wrap: true})
		}
	}
	if len(v.Fields) > 0 {
		fs := Element{Type: "FactSet"}
		for _, f := range v.Fields {
			fs.Facts = append(fs.Facts, Fact{Title: escape(f.Label), Value: escape(f.Value)})
		}
		c.Body = append(c.Body, fs)
	}
	addMentions(&c, v)
	if s := v.Secret; s != nil {
		c.Body = append(c.Body, Element{Type: "TextBlock", Text: escape(s.Label), Weight: "Bolder", Wrap: true},
			Element{Type: "CodeBlock", CodeSnippet: s.Value, Language: "PlainText"})
	}
	if v.Footer != "" {
		c.Body = append(c.Body, Element{Type: "TextBlock", Text: escape(v.Footer), Size: "Small", IsSubtle: true, Wrap: true})
	}
	for _, b := range v.Buttons {
		c.Actions = append(c.Actions, button(b))
	}
	return c
}

// button is a View's button as an Action.Execute; the verb is the action ID.
func button(b bot.Button) Action {
	a := Action{Type: "Action.Execute", Title: b.Label, Verb: b.ActionID, Data: ActionData{Action: b.ActionID, Value: b.Value}}
	switch b.Style {
	case bot.StylePrimary:
		a.Style = "positive"
	case bot.StyleDanger:
		a.Style = "destructive"
	}
	return a
}

// ApprovalRequest returns the request ID of an approval message (the value of its Approve
// button), or "" when v is no approval message with buttons.
func ApprovalRequest(v bot.View) string {
	for _, b := range v.Buttons {
		if b.ActionID == bot.ActionApprove {
			return b.Value
		}
	}
	return ""
}

// WithRefresh adds to an approval card the refresh that asks Teams to fetch it again for each
// of users (Teams user IDs, at most 60): each sees it with the buttons they may use.
func WithRefresh(c Card, requestID string, users []string) Card {
	if requestID == "" || len(users) == 0 {
		return c
	}
	users = append([]string(nil), users...)
	sort.Strings(users)
	if len(users) > maxRefreshUsers {
		users = users[:maxRefreshUsers]
	}
	c.Refresh = &Refresh{
		Action:  Action{Type: "Action.Execute", Title: "Refresh", Verb: VerbRefresh, Data: ActionData{Action: VerbRefresh, Value: requestID}},
		UserIDs: users,
	}
	return c
}

// FormCard turns a Form into a card with its inputs and a submit button; errs, from a refused
// submission, are shown under the inputs they concern.
func FormCard(f bot.Form, errs map[string]string) Card {
	c := newCard()
	c.Body = append(c.Body, Element{Type: "TextBlock", Text: escape(f.Title), Weight: "Bolder", Size: "Medium", Wrap: true})
	for _, in := range f.Inputs {
		e := Element{ID: in.ID, Label: in.Label, Placeholder: in.Placeholder, Value: in.Initial, IsRequired: !in.Optional}
		switch in.Kind {
		case bot.InputSelect:
			e.Type, e.Style = "Input.ChoiceSet", "compact"
			for _, o := range in.Options {
				e.Choices = append(e.Choices, Choice{Title: o.Label, Value: o.Value})
			}
		case bot.InputLong:
			e.Type, e.IsMultiline = "Input.Text", true
		default:
			e.Type = "Input.Text"
		}
		if e.IsRequired {
			e.ErrorMessage = in.Label + " is required."
		}
		c.Body = append(c.Body, e)
		if in.Hint != "" {
			c.Body = append(c.Body, Element{Type: "TextBlock", Text: escape(in.Hint), Size: "Small", IsSubtle: true, Wrap: true, Spacing: "None"})
		}
		if msg := errs[in.ID]; msg != "" {
			c.Body = append(c.Body, Element{Type: "TextBlock", Text: escape(msg), Color: "Attention", Size: "Small", Wrap: true, Spacing: "None"})
		}
	}
	submit := f.Submit
	if submit == "" {
		submit = "Submit"
	}
	c.Actions = []Action{{Type: "Action.Execute", Title: submit, Verb: VerbSubmit, Style: "positive",
		Data: ActionData{Action: VerbSubmit, Value: f.Value, Form: f.ID}}}
	return c
}

// markdownEscaper escapes what Teams' card markdown would read: a View's text is plain.
var markdownEscaper = strings.NewReplacer(
	`\`, `\\`, `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`,
)

// escape makes plain text safe in a TextBlock, and keeps a list marker at the start of a line
// from making a list.
func escape(s string) string {
	s = markdownEscaper.Replace(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		t := strings.TrimLeft(l, " ")
		if strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "+ ") || startsNumbered(t) {
			lines[i] = `\` + l
		}
	}
	return strings.Join(lines, "\n")
}

// startsNumbered reports whether a line starts like "1. ", a numbered list item.
func startsNumbered(s string) bool {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 0 && strings.HasPrefix(s[i:], ". ")
}
