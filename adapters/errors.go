package adapters

import (
	"errors"
	"fmt"
)

// Kind says whether an adapter error is worth retrying.
type Kind int

const (
	// Retryable errors are transient: a network error, a timeout, a 5xx. The scheduler retries
	// them with backoff.
	Retryable Kind = iota + 1
	// Permanent errors will not go away by retrying: bad configuration, an unknown user, a
	// refused permission.
	Permanent
)

func (k Kind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Error is an adapter error with its kind.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// RetryableError marks err as retryable.
func RetryableError(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: Retryable, Err: err}
}

// PermanentError marks err as permanent.
func PermanentError(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: Permanent, Err: err}
}

// Permanentf formats a permanent error.
func Permanentf(format string, args ...any) error {
	return &Error{Kind: Permanent, Err: fmt.Errorf(format, args...)}
}

// Retryablef formats a retryable error.
func Retryablef(format string, args ...any) error {
	return &Error{Kind: Retryable, Err: fmt.Errorf(format, args...)}
}

// KindOf returns the kind of err. An error without a kind is treated as retryable: giving up on
// a revocation is worse than trying again.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Retryable
}

// IsPermanent reports whether err is marked permanent.
func IsPermanent(err error) bool { return err != nil && KindOf(err) == Permanent }
