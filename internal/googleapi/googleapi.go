// Package googleapi is what accessbot's Google adapters (gcp-iam, google-groups) share to call
// Google's REST APIs themselves rather than through google.golang.org/api, which would link gRPC,
// OpenTelemetry and cloud.google.com/go/auth into every accessbot process (BENCHMARKS.md, "4.
// Memory"): one JSON call, with Google's error answer read into an Error. The credentials are the
// caller's *http.Client (golang.org/x/oauth2/google's transport).
package googleapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

const (
	// MaxResponse bounds what is read of one answer: a policy of 1,500 members or a page of 500
	// memberships is well under it.
	MaxResponse = 4 << 20
	// MaxErrorText bounds the text of an answer that is not Google's error JSON (a proxy's HTML
	// page) carried into an error message.
	MaxErrorText = 200
)

// Error is Google's error answer: {"error":{"code","message","status","details"}}; an
// operation's error is a google.rpc.Status of the same shape with a gRPC code. An answer that is
// not that JSON becomes an Error with the HTTP status as its code and the start of its text as
// the message.
type Error struct {
	// Code is the HTTP status (for an operation's error, the gRPC code as sent).
	Code int `json:"code"`
	// Message is Google's own words.
	Message string `json:"message"`
	// Status is the google.rpc.Code name ("PERMISSION_DENIED", "ABORTED", ...).
	Status string `json:"status"`
	// Details are Google's typed details (ErrorInfo, QuotaFailure, ...), kept as sent.
	Details []json.RawMessage `json:"details,omitempty"`
}

// Error says the status and Google's message.
func (e *Error) Error() string {
	s := fmt.Sprintf("Google answered %d", e.Code)
	if e.Status != "" {
		s += " " + e.Status
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// ParseError reads an answer with HTTP status other than 200.
func ParseError(status int, body []byte) *Error {
	var wrapped struct {
		Error *Error `json:"error"`
	}
	if json.Unmarshal(body, &wrapped) == nil && wrapped.Error != nil && (wrapped.Error.Message != "" || wrapped.Error.Code != 0) {
		e := wrapped.Error
		// The HTTP status decides what the adapter does; the body's code is the same number in
		// every answer Google documents.
		e.Code = status
		return e
	}
	text := strings.Join(strings.Fields(string(body)), " ")
	if len(text) > MaxErrorText {
		text = text[:MaxErrorText]
		for !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
		text += "…"
	}
	if text == "" {
		text = http.StatusText(status)
	}
	return &Error{Code: status, Message: text}
}

// Client calls one Google API endpoint.
type Client struct {
	base      string
	http      *http.Client
	userAgent string
}

// NewClient returns a client for base, a base URL to which method paths are appended (def when
// base is empty), sending requests through hc as userAgent.
func NewClient(base, def string, hc *http.Client, userAgent string) *Client {
	if base == "" {
		base = def
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return &Client{base: base, http: hc, userAgent: userAgent}
}

// Call sends verb to the base URL + path (which may carry a query) with in as its JSON body (none
// when in is nil), and reads a 200 answer into out (unless out is nil); any other answer is an
// *Error. method names the call in errors.
func (c *Client) Call(ctx context.Context, method, verb, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode the %s request: %w", method, err)
		}
		body = bytes.NewReader(b)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, verb, c.base+path+sep+"alt=json&prettyPrint=false", body)
	if err != nil {
		return fmt.Errorf("build the %s request: %w", method, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return fmt.Errorf("%s: read the answer: %w", method, err)
	}
	if len(data) > MaxResponse {
		return fmt.Errorf("%s: the answer is larger than %d bytes", method, MaxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		return ParseError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode the answer: %w", method, err)
	}
	return nil
}
