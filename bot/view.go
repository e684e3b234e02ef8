// Package bot is accessbot's platform-neutral chat core: the `/access` command grammar, the
// handlers that turn commands and button clicks into calls on grants.Service, the views that say
// what each message says, and the delivery of messages (approval messages kept up to date, DMs,
// alerts) from the audit log through a durable outbox.
//
// A platform (bot/slack, bot/discord, bot/web) verifies what arrives, works out who the person
// is, calls Bot.Command or Bot.Act, and renders the Views and Forms it gets back in its own
// format. It also implements Platform, through which the outbox posts and updates messages.
// Nothing here knows Block Kit or Discord components.
package bot

// Tone is the colour of a message: what state it shows at a glance.
type Tone string

const (
	ToneNeutral Tone = "neutral" // information, help
	TonePending Tone = "pending" // waiting for someone
	ToneSuccess Tone = "success" // approved, granted, revoked on time
	ToneWarning Tone = "warning" // expiring soon, break-glass, needs review
	ToneDanger  Tone = "danger"  // denied, failed, alert
)

// View is a platform-neutral message. Text fields are plain text: platforms escape them and
// apply their own emphasis to Title and field labels. Backticks mark commands and IDs
// (`/access list`); a platform may show them as code.
type View struct {
	// Title is the first line, shown bold.
	Title string `json:"title"`
	// Text is the body: one or more short paragraphs separated by blank lines.
	Text string `json:"text,omitempty"`
	// Fields are label/value pairs shown as a compact table (who, what, how long, why...).
	Fields []Field `json:"fields,omitempty"`
	// Buttons are actions under the message.
	Buttons []Button `json:"buttons,omitempty"`
	Tone    Tone     `json:"tone"`
	// Footer is a small line of context: IDs, times.
	Footer string `json:"footer,omitempty"`
	// Ended, when set, is the grant this message says is over (revoked, expired, failed): a
	// platform that keeps the messages it showed (the web chat) takes that grant's Extend and
	// I'm done buttons off them, where a click could only be refused now.
	Ended string `json:"ended,omitempty"`
	// Secret, when set, is a credential the message hands over once (see Secret). A message
	// with a Secret is sent by DM and never stored.
	Secret *Secret `json:"secret,omitempty"`
	// Notify are person IDs the message calls on (the people on call for a request): each
	// platform mentions those it can tie to one of its users, and names the others.
	Notify []string `json:"notify,omitempty"`
}

// Secret is a value a View carries verbatim: a password, a certificate, a whole kubeconfig. A
// platform shows it exactly as it is, never escaped, reflowed or cut: as preformatted text, or
// as a file where that is the platform's form for a long value. A platform that cannot carry
// the whole value fails the send with ErrSecretTooLong instead, since a cut credential does not
// work and accessbot, which keeps no copy, could not send it again.
type Secret struct {
	// Label says what it is ("Password for alice").
	Label string `json:"label"`
	// Value is the credential, byte for byte.
	Value string `json:"value"`
	// FileName is its name where a platform sends it as a file ("k8s-prod.kubeconfig"): letters,
	// digits, '.', '-' and '_' only (SecretFileName).
	FileName string `json:"file_name,omitempty"`
}

// Field is one label/value pair of a View.
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// ButtonStyle says how prominent a button is.
type ButtonStyle string

const (
	StyleDefault ButtonStyle = ""
	StylePrimary ButtonStyle = "primary"
	StyleDanger  ButtonStyle = "danger"
)

// Action IDs of buttons and forms. They are a contract with the platforms and stored messages:
// never rename one.
const (
	ActionApprove = "approve" // Value: request ID
	ActionDeny    = "deny"    // Value: request ID; opens the deny form
	ActionRevoke  = "revoke"  // Value: grant ID ("I'm done")
	ActionExtend  = "extend"  // Value: grant ID; opens the extend form
	ActionReview  = "review"  // Value: grant ID; records a review of a break-glass use

	FormRequest = "request" // the request form (resource, duration, reason)
	FormDeny    = "deny"    // Value: request ID; input "reason"
	FormExtend  = "extend"  // Value: grant ID; inputs "duration", "reason"
)

// Button is one action under a message. What a click may do is decided on the server when it
// arrives, from the current policy: the button only names the action and the object.
type Button struct {
	ActionID string      `json:"action_id"`
	Label    string      `json:"label"`
	Value    string      `json:"value"`
	Style    ButtonStyle `json:"style,omitempty"`
}

// Form is a dialog (a Slack modal, a Discord modal, an HTML form) that collects inputs and comes
// back as an Action with ID "submit" and the form's ID in Form.
type Form struct {
	// ID is one of the Form* constants.
	ID string `json:"id"`
	// Value travels with the form (a request or grant ID) and comes back on submit.
	Value  string  `json:"value,omitempty"`
	Title  string  `json:"title"`
	Submit string  `json:"submit"`
	Inputs []Input `json:"inputs"`
}

// InputKind says what kind of input a form field is.
type InputKind string

const (
	InputText   InputKind = "text"
	InputLong   InputKind = "long" // multi-line text
	InputSelect InputKind = "select"
)

// Input is one field of a Form.
type Input struct {
	ID          string    `json:"id"`
	Label       string    `json:"label"`
	Kind        InputKind `json:"kind"`
	Placeholder string    `json:"placeholder,omitempty"`
	Hint        string    `json:"hint,omitempty"`
	Initial     string    `json:"initial,omitempty"`
	Optional    bool      `json:"optional,omitempty"`
	Options     []Option  `json:"options,omitempty"`
}

// Option is one choice of a select input.
type Option struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// Reply is what a command or click produces for the person who sent it.
type Reply struct {
	// Private replies are seen only by that person (Slack ephemeral, Discord ephemeral).
	Private bool
	// View is the message to show, if any.
	View *View
	// Form, when set, is a dialog to open (only possible in answer to a command or click, which
	// carry the platform's trigger).
	Form *Form
	// Errors, for a form submission, maps input IDs to what is wrong with them; the platform
	// shows them on the open form instead of closing it.
	Errors map[string]string
}

// Action is a click or a form submission, as the platform received it.
type Action struct {
	// ID is a button's ActionID, or "submit" for a form.
	ID string
	// Value is the button's or form's Value.
	Value string
	// Form is the submitted form's ID (for ID "submit").
	Form string
	// Inputs are the submitted form's values by input ID.
	Inputs map[string]string
}

// ActionSubmit is the Action.ID of a form submission.
const ActionSubmit = "submit"
