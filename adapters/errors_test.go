package adapters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"an error without a kind is retryable", io.ErrUnexpectedEOF, Retryable},
		{"a context deadline is retryable", context.DeadlineExceeded, Retryable},
		{"a retryable error is retryable", RetryableError(io.EOF), Retryable},
		{"a permanent error is permanent", PermanentError(io.EOF), Permanent},
		{"Permanentf is permanent", Permanentf("unknown user %s", "ann"), Permanent},
		{"Retryablef is retryable", Retryablef("timeout after %ds", 3), Retryable},
		{"a wrapped permanent error stays permanent", fmt.Errorf("revoke grant g-1: %w", PermanentError(io.EOF)), Permanent},
		{"a twice-wrapped permanent error stays permanent", fmt.Errorf("a: %w", fmt.Errorf("b: %w", Permanentf("no"))), Permanent},
		{"a wrapped retryable error stays retryable", fmt.Errorf("grant g-1: %w", RetryableError(io.EOF)), Retryable},
		{"a permanent error joined with another stays permanent", errors.Join(io.EOF, PermanentError(io.EOF)), Permanent},
		{"the outermost kind wins", RetryableError(PermanentError(io.EOF)), Retryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf = %s, want %s", got, tt.want)
			}
			if got := IsPermanent(tt.err); got != (tt.want == Permanent) {
				t.Errorf("IsPermanent = %v, want %v", got, tt.want == Permanent)
			}
		})
	}
}

func TestMarkingNilIsNil(t *testing.T) {
	if RetryableError(nil) != nil {
		t.Error("RetryableError(nil) is not nil")
	}
	if PermanentError(nil) != nil {
		t.Error("PermanentError(nil) is not nil")
	}
	if IsPermanent(nil) {
		t.Error("IsPermanent(nil) is true")
	}
}

func TestKindErrorsKeepTheirCauseAndMessage(t *testing.T) {
	cause := errors.New("connection refused")
	err := fmt.Errorf("grant g-1: %w", RetryableError(cause))
	if !errors.Is(err, cause) {
		t.Error("errors.Is does not reach the cause through the kind")
	}
	if got, want := err.Error(), "grant g-1: connection refused"; got != want {
		t.Errorf("message = %q, want %q: the kind adds nothing to the text", got, want)
	}
	wrapped := Permanentf("check role: %w", cause)
	if !errors.Is(wrapped, cause) {
		t.Error("Permanentf does not keep a %w cause")
	}
}

func TestKindString(t *testing.T) {
	for kind, want := range map[Kind]string{Retryable: "retryable", Permanent: "permanent", Kind(0): "unknown"} {
		if got := kind.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(kind), got, want)
		}
	}
}
