package discord

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/accessbot/accessbot/bot"
)

// Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits,
// .../components/reference): longer text is cut, with an ellipsis, rather than have Discord
// refuse the whole message.
const (
	maxEmbedTitle    = 256
	maxDescription   = 4096
	maxFields        = 25
	maxFieldName     = 256
	maxFieldValue    = 1024
	maxFooter        = 2048
	maxEmbedTotal    = 6000
	maxButtonLabel   = 80
	maxButtonsPerRow = 5
	maxRows          = 5
	maxCustomID      = 100
	maxModalTitle    = 45
	maxInputs        = 5
	maxInputLabel    = 45
	maxPlaceholder   = 100
	maxInputValue    = 4000
	maxChoices       = 25
	maxChoiceName    = 100
	// inlineField is the longest value shown side by side with others.
	inlineField = 40
	// maxSecretFile bounds a Secret sent as a file, which is never cut: the smallest default
	// upload limit Discord has had (8 MiB; 25 MiB from 2023, 10 MiB since late 2024). Over its
	// limit Discord answers 413, code 40005.
	maxSecretFile = 8 << 20
)

// Flags of a message.
const (
	// FlagEphemeral makes an interaction response visible only to the person who acted.
	FlagEphemeral = discordgo.MessageFlagsEphemeral
)

// Message is a message as the REST API takes it: to create or edit a channel message, as an
// interaction response's data, or as a follow-up. Embeds and Components are never null, so an
// edit replaces the buttons of the message before it.
type Message struct {
	Content         string                       `json:"content,omitempty"`
	Embeds          []*discordgo.MessageEmbed    `json:"embeds"`
	Components      []discordgo.MessageComponent `json:"components"`
	Flags           discordgo.MessageFlags       `json:"flags,omitempty"`
	AllowedMentions *AllowedMentions             `json:"allowed_mentions,omitempty"`
	// Attachments describe the files of a multipart message: files[ID] is named Filename.
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Attachment is a file of a message being sent, as payload_json lists it.
type Attachment struct {
	ID       int    `json:"id"`
	Filename string `json:"filename"`
}

// AllowedMentions says whom a message may ping. accessbot's messages ping nobody: a reason
// that says @everyone stays text.
type AllowedMentions struct {
	Parse []string `json:"parse"`
	// Users are the only users the message may ping (the people it calls on; withMentions).
	Users []string `json:"users,omitempty"`
}

// ModalData is the data of a MODAL interaction response.
type ModalData struct {
	CustomID   string                       `json:"custom_id"`
	Title      string                       `json:"title"`
	Components []discordgo.MessageComponent `json:"components"`
}

// Response is an interaction response: the body of the answer to Discord's POST, or of
// POST /interactions/{id}/{token}/callback.
type Response struct {
	Type discordgo.InteractionResponseType `json:"type"`
	Data any                               `json:"data,omitempty"`
}

// ChoicesData is the data of an APPLICATION_COMMAND_AUTOCOMPLETE_RESULT response.
type ChoicesData struct {
	Choices []*discordgo.ApplicationCommandOptionChoice `json:"choices"`
}

// toneColor is the embed's side bar: its state at a glance.
var toneColor = map[bot.Tone]int{
	bot.ToneNeutral: 0x5865F2, // blurple
	bot.TonePending: 0xFEE75C, // yellow
	bot.ToneSuccess: 0x57F287, // green
	bot.ToneWarning: 0xE67E22, // orange
	bot.ToneDanger:  0xED4245, // red
}

// toneEmoji marks the state in the title, which notifications show.
var toneEmoji = map[bot.Tone]string{
	bot.TonePending: "⏳",
	bot.ToneSuccess: "✅",
	bot.ToneWarning: "⚠️",
	bot.ToneDanger:  "⛔",
}

var buttonStyle = map[bot.ButtonStyle]discordgo.ButtonStyle{
	bot.StyleDefault: discordgo.SecondaryButton,
	bot.StylePrimary: discordgo.SuccessButton, // Approve, Extend: green, as on Slack
	bot.StyleDanger:  discordgo.DangerButton,
}

// Render renders v as a message: one embed (title with the tone's emoji, the text, label/value
// fields, the footer, the tone's colour) and rows of buttons whose custom_id is
// "<action ID>:<value>". Text a person may have typed is escaped (Escape): no masked link,
// mention, heading or formatting gets through, and the message pings nobody. A Secret is shown
// whole or, when it goes as a file (SecretFile), named in the embed: Post, Update and DM attach
// the file.
func Render(v bot.View) Message {
	return Message{
		Embeds:          []*discordgo.MessageEmbed{Embed(v)},
		Components:      Components(v.Buttons),
		AllowedMentions: &AllowedMentions{Parse: []string{}},
	}
}

// Embed renders v's text as an embed.
func Embed(v bot.View) *discordgo.MessageEmbed {
	e := &discordgo.MessageEmbed{Color: toneColor[v.Tone]}
	if e.Color == 0 {
		e.Color = toneColor[bot.ToneNeutral]
	}
	// Titles and field names show inline formatting, so they are escaped like the text (names
	// in titles are typed by people). Footers show none: they are only cut.
	e.Title = truncateEscaped(Escape(title(v)), maxEmbedTitle)
	budget := maxEmbedTotal - utf8.RuneCountInString(e.Title)
	if f := strings.TrimSpace(v.Footer); f != "" {
		e.Footer = &discordgo.MessageEmbedFooter{Text: truncate(f, maxFooter)}
		budget -= utf8.RuneCountInString(e.Footer.Text)
	}
	fields := v.Fields
	if v.Secret != nil {
		// The secret's field comes first, so that no budget or count ever leaves it out.
		ef := secretField(*v.Secret)
		budget -= utf8.RuneCountInString(ef.Name) + utf8.RuneCountInString(ef.Value)
		e.Fields = append(e.Fields, ef)
		fields = fields[:min(len(fields), maxFields-1)]
	}
	if len(fields) > maxFields {
		fields = fields[:maxFields]
	}
	for _, f := range fields {
		value := Escape(strings.TrimSpace(f.Value))
		if value == "" {
			value = "—"
		}
		name := strings.TrimSpace(f.Label)
		if name == "" {
			name = "\u200b" // a field needs a name
		}
		ef := &discordgo.MessageEmbedField{
			Name:   truncateEscaped(Escape(name), maxFieldName),
			Value:  truncateEscaped(value, maxFieldValue),
			Inline: utf8.RuneCountInString(f.Value) <= inlineField && !strings.Contains(f.Value, "\n"),
		}
		n := utf8.RuneCountInString(ef.Name) + utf8.RuneCountInString(ef.Value)
		if n > budget {
			break
		}
		budget -= n
		e.Fields = append(e.Fields, ef)
	}
	if text := strings.TrimSpace(v.Text); text != "" && budget > 1 {
		e.Description = truncateEscaped(Escape(text), min(maxDescription, budget))
	}
	return e
}

// secretField shows a Secret in the embed: the value itself as inline code when it is one
// short line that code shows exactly (no backtick, no space at either end: Discord trims
// them), or else where to find it, the file Post attaches (SecretFile).
func secretField(s bot.Secret) *discordgo.MessageEmbedField {
	name := strings.TrimSpace(s.Label)
	if name == "" {
		name = "Secret"
	}
	ef := &discordgo.MessageEmbedField{Name: truncateEscaped(Escape(name), maxFieldName)}
	if file, ok := SecretFile(s); ok {
		ef.Value = "In the attached file `" + file + "`: save it as it is."
	} else {
		ef.Value = "`" + s.Value + "`"
	}
	return ef
}

// SecretFile says whether a Secret goes as a file attached to its message, and the file's name:
// it does unless inline code shows it whole and exactly (see secretField).
func SecretFile(s bot.Secret) (string, bool) {
	v := s.Value
	inline := v != "" && utf8.RuneCountInString(v)+2 <= maxFieldValue &&
		!strings.ContainsAny(v, "`\r\n") && strings.TrimSpace(v) == v
	if inline {
		return "", false
	}
	name := s.FileName
	if name == "" || strings.ContainsAny(name, "`/\\") {
		name = "secret.txt"
	}
	return name, true
}

func title(v bot.View) string {
	t := strings.Join(strings.Fields(v.Title), " ")
	if t == "" {
		return ""
	}
	if e := toneEmoji[v.Tone]; e != "" {
		return e + " " + t
	}
	return t
}

// Components renders buttons as action rows of at most five. A button's custom_id is
// CustomID(action, value); one whose custom_id would be too long is left out, and a repeated
// one gets a "#n" suffix (Discord wants them unique in a message) that ParseCustomID drops.
func Components(buttons []bot.Button) []discordgo.MessageComponent {
	rows := []discordgo.MessageComponent{}
	var row []discordgo.MessageComponent
	used := map[string]int{}
	for _, b := range buttons {
		id := CustomID(b.ActionID, b.Value)
		if n := used[id]; n > 0 {
			used[id]++
			id = fmt.Sprintf("%s#%d", id, n+1)
		} else {
			used[id] = 1
		}
		if utf8.RuneCountInString(id) > maxCustomID || b.ActionID == "" {
			continue
		}
		if len(row) == maxButtonsPerRow {
			rows = append(rows, discordgo.ActionsRow{Components: row})
			row = nil
		}
		if len(rows) == maxRows {
			break
		}
		label := strings.TrimSpace(b.Label)
		if label == "" {
			label = b.ActionID
		}
		row = append(row, discordgo.Button{
			Label:    truncate(label, maxButtonLabel),
			Style:    buttonStyle[b.Style],
			CustomID: id,
		})
	}
	if len(row) > 0 && len(rows) < maxRows {
		rows = append(rows, discordgo.ActionsRow{Components: row})
	}
	return rows
}

// CustomID is the custom_id of a button: "<action ID>:<value>".
func CustomID(action, value string) string { return action + ":" + value }

// ParseCustomID reads a button's custom_id back into its action ID and value.
func ParseCustomID(id string) (action, value string) {
	if i := strings.LastIndexByte(id, '#'); i > 0 && isDigits(id[i+1:]) {
		id = id[:i]
	}
	action, value, _ = strings.Cut(id, ":")
	return action, value
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// modalPrefix starts the custom_id of a modal: "form:<form ID>:<value>".
const modalPrefix = "form:"

// ModalCustomID is the custom_id of a form's modal.
func ModalCustomID(f bot.Form) string { return modalPrefix + f.ID + ":" + f.Value }

// ParseModalCustomID reads a modal's custom_id back into the form's ID and value.
func ParseModalCustomID(id string) (form, value string, ok bool) {
	rest, ok := strings.CutPrefix(id, modalPrefix)
	if !ok {
		return "", "", false
	}
	form, value, _ = strings.Cut(rest, ":")
	return form, value, form != ""
}

// Modal renders f as a modal: custom_id ModalCustomID(f), and one text input per input whose
// custom_id is the input's ID. Discord modals take text inputs only, so a select becomes a text
// input whose placeholder lists the choices (and /access request's resource option completes
// names); a hint shows as the placeholder of an input without one.
func Modal(f bot.Form) ModalData {
	t := strings.TrimSpace(f.Title)
	if t == "" {
		t = "accessbot"
	}
	m := ModalData{CustomID: ModalCustomID(f), Title: truncate(t, maxModalTitle), Components: []discordgo.MessageComponent{}}
	for i, in := range f.Inputs {
		if i == maxInputs {
			break
		}
		ti := discordgo.TextInput{
			CustomID:    in.ID,
			Label:       truncate(strings.TrimSpace(in.Label), maxInputLabel),
			Style:       discordgo.TextInputShort,
			Placeholder: in.Placeholder,
			Value:       truncate(in.Initial, maxInputValue),
			Required:    !in.Optional,
		}
		switch in.Kind {
		case bot.InputLong:
			ti.Style = discordgo.TextInputParagraph
			ti.MaxLength = maxInputValue
		case bot.InputSelect:
			names := make([]string, len(in.Options))
			for j, o := range in.Options {
				names[j] = o.Value
			}
			if len(names) > 0 {
				ti.Placeholder = strings.Join(names, ", ")
			}
			ti.MaxLength = 100
		default:
			ti.MaxLength = 100
		}
		if ti.Placeholder == "" {
			ti.Placeholder = in.Hint
		}
		ti.Placeholder = truncate(ti.Placeholder, maxPlaceholder)
		if ti.Label == "" {
			ti.Label = in.ID
		}
		m.Components = append(m.Components, discordgo.ActionsRow{Components: []discordgo.MessageComponent{ti}})
	}
	return m
}

// truncate shortens s to at most max runes, marking the cut with an ellipsis.
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}
