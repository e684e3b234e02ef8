package slack

import (
	"bytes"
	"context"
	"fmt"

	slackapi "github.com/slack-go/slack"

	"github.com/accessbot/accessbot/bot"
)

// FileScope is the bot token scope Upload needs. Uploads are optional (the digest's chart), so
// RequiredScopes does not list it: without it an upload fails with missing_scope, a permanent
// error, and the digest goes out as text alone.
const FileScope = "files:write"

// maxUpload bounds what Upload sends; the digest's chart is some 20 KB.
const maxUpload = 10 << 20

// Upload posts data as a file to a channel (an ID; files.completeUploadExternal takes no
// #name), as Slack documents it: files.getUploadURLExternal for an upload URL, a POST of the
// bytes to that URL, then files.completeUploadExternal, which shares the file in the channel
// with title as its caption.
func (c *Client) Upload(ctx context.Context, channel, filename string, data []byte, title string) error {
	if len(data) == 0 || len(data) > maxUpload {
		return fmt.Errorf("slack upload of %s: %d bytes (want 1 to %d): %w", filename, len(data), maxUpload, bot.ErrPermanent)
	}
	ctx, cancel := c.deadline(ctx)
	defer cancel()
	_, err := c.api.UploadFileContext(ctx, slackapi.UploadFileParameters{
		Reader:   bytes.NewReader(data),
		FileSize: len(data),
		Filename: filename,
		Title:    title,
		AltTxt:   title,
		Channel:  channel,
	})
	if err != nil {
		return deliveryError(fmt.Sprintf("slack file upload of %s to %s", filename, channel), "", err)
	}
	return nil
}

var _ bot.FileUploader = (*Client)(nil)
