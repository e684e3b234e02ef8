package tickets

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// MaxAnswer bounds a success answer read from a ticket system: one ticket is a few kB.
const MaxAnswer = 1 << 20

// Call sends req with hc and decodes a 2xx JSON answer into out (nil: the body is dropped). Any
// other answer is an *APIError with op, the system's error text as errText reads it from the
// body, and the Retry-After wait of a 429 or 503 relative to now.
func Call(ctx context.Context, hc *http.Client, req *http.Request, op string, out any, errText func([]byte) string, now func() time.Time) error {
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
		ae := &APIError{Op: op, Status: resp.StatusCode, Message: ClipMessage(errText(body))}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			ae.RetryAfter = RetryAfter(resp.Header, now())
		}
		return ae
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswer))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxAnswer)).Decode(out); err != nil {
		return fmt.Errorf("%s: read answer: %w", op, err)
	}
	return nil
}
