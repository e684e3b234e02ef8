package slack

import (
	"fmt"
	"strings"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/accessbot/accessbot/bot"
)

// Block Kit limits (https://docs.slack.dev/reference/block-kit): longer text is cut, with an
// ellipsis, rather than have Slack refuse the whole message.
const (
	maxHeader        = 150
	maxSectionText   = 3000
	maxField         = 2000
	maxFieldsPerBox  = 10
	maxFields        = 40
	maxButtonText    = 75
	maxButtonsPerRow = 25
	maxContextText   = 2000
	maxFallback      = 3000
	maxModalTitle    = 24
	maxModalButton   = 24
	maxLabel         = 2000
	maxPlaceholder   = 150
	maxHint          = 2000
	maxOptions       = 100
	maxOptionText    = 75
	maxMetadata      = 3000
	maxInitialValue  = 3000
	// maxSecret bounds a Secret, which is never cut. Slack documents no limit for the text of
	// a rich_text block, but refuses (msg_blocks_too_long) a message whose blocks hold about
	// 12,000 characters of text in all, a limit it does not document either: its developers
	// speak of 12,000 "with a buffer for block containers", and refusals are reported from
	// 11,341. 10,000 leaves the rest of the message room; a
	// refusal all the same is permanent, so the holder is told, never sent a part.
	maxSecret = 10000
)

// toneEmoji marks a message's state at a glance, in the header and in notifications.
var toneEmoji = map[bot.Tone]string{
	bot.TonePending: ":hourglass_flowing_sand:",
	bot.ToneSuccess: ":white_check_mark:",
	bot.ToneWarning: ":warning:",
	bot.ToneDanger:  ":no_entry:",
}

// Block IDs of the parts of a message, stable so that tests and updates can find them.
const (
	blockHeader  = "title"
	blockText    = "text"
	blockFields  = "fields"
	blockActions = "actions"
	blockFooter  = "footer"
	blockSecret  = "secret"
)

// Blocks renders v as Block Kit: a header with the tone's emoji and the title, a section with
// the text, sections of label/value fields, rows of buttons (action_id = Button.ActionID,
// value = Button.Value) and a context line with the footer. Text is escaped: nothing a person
// typed can mention a channel, link or format the message.
func Blocks(v bot.View) []slackapi.Block {
	var blocks []slackapi.Block
	if title := headerText(v); title != "" {
		blocks = append(blocks, &slackapi.HeaderBlock{
			Type:    slackapi.MBTHeader,
			BlockID: blockHeader,
			Text:    plain(title, maxHeader),
		})
	}
	if strings.TrimSpace(v.Text) != "" {
		blocks = append(blocks, &slackapi.SectionBlock{
			Type:    slackapi.MBTSection,
			BlockID: blockText,
			Text:    mrkdwn(Escape(v.Text), maxSectionText),
		})
	}
	fields := v.Fields
	if len(fields) > maxFields {
		fields = fields[:maxFields]
	}
	for i := 0; i < len(fields); i += maxFieldsPerBox {
		box := fields[i:min(i+maxFieldsPerBox, len(fields))]
		objs := make([]*slackapi.TextBlockObject, len(box))
		for j, f := range box {
			value := Escape(f.Value)
			if strings.TrimSpace(value) == "" {
				value = "—"
			}
			objs[j] = mrkdwn("*"+Escape(f.Label)+"*\n"+value, maxField)
		}
		blocks = append(blocks, &slackapi.SectionBlock{
			Type:    slackapi.MBTSection,
			BlockID: numbered(blockFields, i/maxFieldsPerBox),
			Fields:  objs,
		})
	}
	if v.Secret != nil {
		blocks = append(blocks, secretBlock(*v.Secret))
	}
	for i, row := range buttonRows(v.Buttons) {
		elems := make([]slackapi.BlockElement, len(row))
		for j, b := range row {
			elems[j] = &slackapi.ButtonBlockElement{
				Type:     slackapi.METButton,
				Text:     plain(b.Label, maxButtonText),
				ActionID: b.ActionID,
				Value:    b.Value,
				Style:    slackapi.Style(b.Style),
			}
		}
		blocks = append(blocks, &slackapi.ActionBlock{
			Type:     slackapi.MBTAction,
			BlockID:  numbered(blockActions, i),
			Elements: &slackapi.BlockElements{ElementSet: elems},
		})
	}
	if strings.TrimSpace(v.Footer) != "" {
		blocks = append(blocks, &slackapi.ContextBlock{
			Type:    slackapi.MBTContext,
			BlockID: blockFooter,
			ContextElements: slackapi.ContextElements{Elements: []slackapi.MixedElement{
				mrkdwn(Escape(v.Footer), maxContextText),
			}},
		})
	}
	return blocks
}

// secretBlock shows a Secret as a rich_text block: its label in bold, then its value as
// preformatted text. Rich text is not mrkdwn: its text is shown as it is, so the value goes
// unescaped and whole, in a code block whose every line and space is kept for copying.
func secretBlock(s bot.Secret) *slackapi.RichTextBlock {
	label := strings.TrimSpace(s.Label)
	if label == "" {
		label = "Secret"
	}
	return slackapi.NewRichTextBlock(blockSecret,
		slackapi.NewRichTextSection(slackapi.NewRichTextSectionTextElement(label, &slackapi.RichTextSectionTextStyle{Bold: true})),
		&slackapi.RichTextPreformatted{Type: slackapi.RTEPreformatted, Elements: []slackapi.RichTextSectionElement{
			slackapi.NewRichTextSectionTextElement(s.Value, nil),
		}},
	)
}

// checkSecret refuses to send a View whose Secret Slack could not show whole.
func checkSecret(v bot.View) error {
	if v.Secret == nil {
		return nil
	}
	if n := utf8.RuneCountInString(v.Secret.Value); n > maxSecret {
		return fmt.Errorf("slack: the secret %q is %d characters, over the %d one message carries whole: %w",
			v.Secret.Label, n, maxSecret, bot.ErrSecretTooLong)
	}
	return nil
}

// buttonRows splits buttons into rows: an action_id may appear once per actions block, and a
// block holds at most 25 elements.
func buttonRows(buttons []bot.Button) [][]bot.Button {
	var rows [][]bot.Button
	var row []bot.Button
	used := map[string]bool{}
	for _, b := range buttons {
		if used[b.ActionID] || len(row) == maxButtonsPerRow {
			rows = append(rows, row)
			row, used = nil, map[string]bool{}
		}
		row = append(row, b)
		used[b.ActionID] = true
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	return rows
}

func numbered(id string, i int) string {
	if i == 0 {
		return id
	}
	return fmt.Sprintf("%s-%d", id, i+1)
}

func headerText(v bot.View) string {
	title := strings.Join(strings.Fields(v.Title), " ")
	if title == "" {
		return ""
	}
	if e := toneEmoji[v.Tone]; e != "" {
		return e + " " + title
	}
	return title
}

// Text is the plain-text version of v that Slack shows in notifications and where blocks cannot
// be shown: the title, then the text. It is escaped like the blocks.
func Text(v bot.View) string {
	parts := make([]string, 0, 2)
	if t := headerText(v); t != "" {
		parts = append(parts, t)
	}
	if s := strings.TrimSpace(v.Text); s != "" {
		parts = append(parts, s)
	}
	if len(parts) == 0 && len(v.Fields) > 0 {
		parts = append(parts, v.Fields[0].Label+": "+v.Fields[0].Value)
	}
	return truncate(Escape(strings.Join(parts, "\n")), maxFallback)
}

// Modal renders f as a modal: callback_id is the form's ID, private_metadata its Value, and each
// input is an input block whose block_id and action_id are the input's ID, so a submission's
// state.values[id][id] holds its value and errors can be shown next to it.
func Modal(f bot.Form) slackapi.ModalViewRequest {
	submit := f.Submit
	if strings.TrimSpace(submit) == "" {
		submit = "Submit"
	}
	blocks := make([]slackapi.Block, 0, len(f.Inputs))
	for _, in := range f.Inputs {
		blocks = append(blocks, inputBlock(in))
	}
	return slackapi.ModalViewRequest{
		Type:            slackapi.VTModal,
		Title:           plain(f.Title, maxModalTitle),
		Submit:          plain(submit, maxModalButton),
		Close:           plain("Cancel", maxModalButton),
		CallbackID:      f.ID,
		PrivateMetadata: f.Value,
		Blocks:          slackapi.Blocks{BlockSet: blocks},
	}
}

func inputBlock(in bot.Input) *slackapi.InputBlock {
	var placeholder *slackapi.TextBlockObject
	if in.Placeholder != "" {
		placeholder = plain(in.Placeholder, maxPlaceholder)
	}
	var elem slackapi.BlockElement
	switch in.Kind {
	case bot.InputSelect:
		sel := &slackapi.SelectBlockElement{
			Type:        slackapi.OptTypeStatic,
			ActionID:    in.ID,
			Placeholder: placeholder,
		}
		for i, o := range in.Options {
			if i == maxOptions {
				break
			}
			opt := &slackapi.OptionBlockObject{Text: plain(o.Label, maxOptionText), Value: o.Value}
			sel.Options = append(sel.Options, opt)
			if in.Initial != "" && o.Value == in.Initial {
				sel.InitialOption = opt
			}
		}
		elem = sel
	default:
		elem = &slackapi.PlainTextInputBlockElement{
			Type:         slackapi.METPlainTextInput,
			ActionID:     in.ID,
			Placeholder:  placeholder,
			InitialValue: truncate(in.Initial, maxInitialValue),
			Multiline:    in.Kind == bot.InputLong,
		}
	}
	var hint *slackapi.TextBlockObject
	if in.Hint != "" {
		hint = plain(in.Hint, maxHint)
	}
	return &slackapi.InputBlock{
		Type:     slackapi.MBTInput,
		BlockID:  in.ID,
		Label:    plain(in.Label, maxLabel),
		Element:  elem,
		Hint:     hint,
		Optional: in.Optional,
	}
}

// resultModal shows v in place of a form that was just submitted.
func resultModal(v bot.View) *slackapi.ModalViewRequest {
	return &slackapi.ModalViewRequest{
		Type:   slackapi.VTModal,
		Title:  plain("accessbot", maxModalTitle),
		Close:  plain("Close", maxModalButton),
		Blocks: slackapi.Blocks{BlockSet: Blocks(v)},
	}
}

// Escape makes s safe in mrkdwn: &, < and > are the only characters Slack asks to escape, and
// escaping < is what stops <!channel>, <@U123> and <http://...|links> from a person's text.
func Escape(s string) string {
	return mrkdwnEscaper.Replace(s)
}

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func plain(s string, max int) *slackapi.TextBlockObject {
	emoji := true
	if strings.TrimSpace(s) == "" {
		s = " "
	}
	return &slackapi.TextBlockObject{Type: slackapi.PlainTextType, Text: truncate(s, max), Emoji: &emoji}
}

func mrkdwn(s string, max int) *slackapi.TextBlockObject {
	return &slackapi.TextBlockObject{Type: slackapi.MarkdownType, Text: truncateEscaped(s, max)}
}

// truncate shortens s to at most max runes, marking the cut with an ellipsis.
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// truncateEscaped is truncate for escaped text: it does not cut an entity (&amp;) in half.
func truncateEscaped(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)[:max-1]
	if i := lastIndexRune(r, '&'); i >= 0 && i > len(r)-5 && !containsRune(r[i:], ';') {
		r = r[:i]
	}
	return string(r) + "…"
}

func lastIndexRune(r []rune, c rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if r[i] == c {
			return i
		}
	}
	return -1
}

func containsRune(r []rune, c rune) bool { return lastIndexRune(r, c) >= 0 }
