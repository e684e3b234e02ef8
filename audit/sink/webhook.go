package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/clock"
)

// HeaderBatch names a webhook batch by its first and last sequence numbers ("101-600"), so a
// receiver can recognise a batch sent again. Receivers should still deduplicate by event seq:
// a batch sent again after a failure may reach further than the first attempt.
const HeaderBatch = "X-Accessbot-Batch"

// DefaultTimeout bounds one webhook POST, or one syslog connect and write.
const DefaultTimeout = 10 * time.Second

// WebhookBody is the JSON body of a webhook POST: the events with their seq, hash and
// prev_hash, so that the receiver can check the chain (audit.ComputeHash).
type WebhookBody struct {
	Events []audit.Event `json:"events"`
}

// WebhookOptions configure a webhook sink.
type WebhookOptions struct {
	// URL receives every POST; http or https.
	URL string
	// Secret is the HMAC-SHA256 key shared with the receiver. Required.
	Secret []byte
	// Timeout bounds each POST; default 10s.
	Timeout time.Duration
	// Headers are added to every request (an Authorization header for a gateway). Never logged.
	Headers map[string]string
	// Clock gives the signature's timestamp.
	Clock clock.Clock
	// Transport, when set, replaces http.DefaultTransport (tests, proxies).
	Transport http.RoundTripper
}

// Webhook POSTs batches of events as signed JSON, like the webhook adapter signs its calls:
// X-Accessbot-Timestamp, and X-Accessbot-Signature = "v1=" hex(HMAC-SHA256(secret,
// timestamp + "." + body)); webhook.Verify checks it. Any 2xx answer acknowledges the batch.
type Webhook struct {
	o      WebhookOptions
	client *http.Client
	target string
}

// NewWebhook checks the options and builds the sink. It does no I/O.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may carry a token: say only what is wrong.
		return nil, errors.New("webhook sink: url must be an absolute http:// or https:// URL")
	}
	if len(o.Secret) == 0 {
		return nil, errors.New("webhook sink: a secret is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return &Webhook{
		o: o,
		client: &http.Client{
			Transport: o.Transport,
			// A redirect would send the signed log somewhere the operator did not configure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		// Scheme and host only: user info, path and query may hold credentials (a token in
		// the path is common in webhook URLs).
		target: (&url.URL{Scheme: u.Scheme, Host: u.Host}).String(),
	}, nil
}

// String describes the sink.
func (w *Webhook) String() string { return "webhook " + w.target }

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}

// Send POSTs one batch and wants a 2xx answer.
func (w *Webhook) Send(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(WebhookBody{Events: events}); err != nil {
		return fmt.Errorf("encode batch: %w", err)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("build request")
	}
	for k, v := range w.o.Headers {
		req.Header.Set(k, v)
	}
	ts := strconv.FormatInt(w.o.Clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderTimestamp, ts)
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(w.o.Secret, ts, body))
	req.Header.Set(HeaderBatch, fmt.Sprintf("%d-%d", events[0].Seq, events[len(events)-1].Seq))
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// Its message repeats the URL, query and all.
			err = ue.Err
		}
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s: %q", resp.Status, snippet)
	}
	return nil
}
