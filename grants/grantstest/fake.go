// Package grantstest helps test code that uses grants: a recording FakeAdapter with programmable
// failures, a static Directory, recorders for secrets and notifications, and a Harness that
// builds a Service and Scheduler over a real SQLite (or PostgreSQL) store with a fake clock.
package grantstest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/grants"
)

// Adapter operations recorded in Call.Op.
const (
	OpGrant  = "grant"
	OpRevoke = "revoke"
	OpExtend = "extend"
)

// Call is one call an adapter received.
type Call struct {
	Op      string
	GrantID string
	Subject adapters.Subject
	// Expires is the expiry a Grant or Extend call asked for.
	Expires time.Time
	// Data is the lease data a Revoke or Extend call carried.
	Data map[string]string
	// Err is what the call returned.
	Err error
}

// FakeAdapter is an adapters.Adapter that keeps the access it granted in memory, records every
// call, and fails on demand. It is safe for concurrent use.
type FakeAdapter struct {
	mu         sync.Mutex
	calls      []Call
	access     map[string]adapters.Subject // grant ID -> who holds it
	grantErrs  []error
	revokeErrs []error
	grantFn    func(adapters.GrantRequest) error
	revokeFn   func(adapters.RevokeRequest) error
	secret     *adapters.Secret
	before     func(ctx context.Context, op, grantID string)
}

// NewFakeAdapter returns a FakeAdapter that succeeds at everything.
func NewFakeAdapter() *FakeAdapter { return &FakeAdapter{access: map[string]adapters.Subject{}} }

// FailGrant queues errors returned by the next Grant calls, one per call.
func (f *FakeAdapter) FailGrant(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grantErrs = append(f.grantErrs, errs...)
}

// FailRevoke queues errors returned by the next Revoke calls, one per call.
func (f *FakeAdapter) FailRevoke(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revokeErrs = append(f.revokeErrs, errs...)
}

// OnGrant sets a function whose error (when not nil) every later Grant call returns, after the
// queued ones; nil removes it.
func (f *FakeAdapter) OnGrant(fn func(adapters.GrantRequest) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grantFn = fn
}

// OnRevoke is OnGrant for Revoke.
func (f *FakeAdapter) OnRevoke(fn func(adapters.RevokeRequest) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revokeFn = fn
}

// Before sets a hook called at the start of every call, outside the adapter's lock: a test can
// block a call there (honouring ctx to see deadlines) or observe that it started.
func (f *FakeAdapter) Before(fn func(ctx context.Context, op, grantID string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.before = fn
}

// ReturnSecret makes Grant return s as the lease's secret.
func (f *FakeAdapter) ReturnSecret(s *adapters.Secret) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secret = s
}

func (f *FakeAdapter) hook(ctx context.Context, op, grantID string) {
	f.mu.Lock()
	before := f.before
	f.mu.Unlock()
	if before != nil {
		before(ctx, op, grantID)
	}
}

// Grant gives access (in memory) unless a failure is queued or programmed.
func (f *FakeAdapter) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	f.hook(ctx, OpGrant, req.GrantID)
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	switch {
	case len(f.grantErrs) > 0:
		err, f.grantErrs = f.grantErrs[0], f.grantErrs[1:]
	case f.grantFn != nil:
		err = f.grantFn(req)
	}
	if err == nil {
		err = ctx.Err()
	}
	f.calls = append(f.calls, Call{Op: OpGrant, GrantID: req.GrantID, Subject: req.Subject, Expires: req.Expires, Err: err})
	if err != nil {
		return adapters.Lease{}, err
	}
	f.access[req.GrantID] = req.Subject
	return adapters.Lease{
		Data:   map[string]string{"role": "fake_" + req.Subject.Account, "grant": req.GrantID},
		Secret: f.secret,
	}, nil
}

// Revoke removes the access; revoking what is gone is success.
func (f *FakeAdapter) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	f.hook(ctx, OpRevoke, req.GrantID)
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	switch {
	case len(f.revokeErrs) > 0:
		err, f.revokeErrs = f.revokeErrs[0], f.revokeErrs[1:]
	case f.revokeFn != nil:
		err = f.revokeFn(req)
	}
	if err == nil {
		err = ctx.Err()
	}
	f.calls = append(f.calls, Call{Op: OpRevoke, GrantID: req.GrantID, Subject: req.Subject, Data: maps.Clone(req.Data), Err: err})
	if err != nil {
		return err
	}
	delete(f.access, req.GrantID)
	return nil
}

// Calls returns every call so far, in order.
func (f *FakeAdapter) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Count returns how many calls of op were made for grantID ("" for any grant).
func (f *FakeAdapter) Count(op, grantID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Op == op && (grantID == "" || c.GrantID == grantID) {
			n++
		}
	}
	return n
}

// Succeeded returns how many calls of op for grantID ("" for any) succeeded.
func (f *FakeAdapter) Succeeded(op, grantID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Op == op && (grantID == "" || c.GrantID == grantID) && c.Err == nil {
			n++
		}
	}
	return n
}

// HasAccess reports whether the grant's access exists at the fake target now.
func (f *FakeAdapter) HasAccess(grantID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.access[grantID]
	return ok
}

// FakeExtender is a FakeAdapter whose target keeps its own expiry (an adapters.Extender).
type FakeExtender struct {
	*FakeAdapter
	extendErrs []error
}

// NewFakeExtender returns a FakeExtender that succeeds at everything.
func NewFakeExtender() *FakeExtender { return &FakeExtender{FakeAdapter: NewFakeAdapter()} }

// FailExtend queues errors returned by the next Extend calls.
func (f *FakeExtender) FailExtend(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.extendErrs = append(f.extendErrs, errs...)
}

// Extend records the new expiry.
func (f *FakeExtender) Extend(ctx context.Context, req adapters.RevokeRequest, expires time.Time) error {
	f.hook(ctx, OpExtend, req.GrantID)
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	if len(f.extendErrs) > 0 {
		err, f.extendErrs = f.extendErrs[0], f.extendErrs[1:]
	}
	f.calls = append(f.calls, Call{Op: OpExtend, GrantID: req.GrantID, Subject: req.Subject, Expires: expires, Data: maps.Clone(req.Data), Err: err})
	return err
}

var (
	_ adapters.Adapter  = (*FakeAdapter)(nil)
	_ adapters.Extender = (*FakeExtender)(nil)
)

// Directory is a static grants.Directory: group name to member IDs (matched like config entries).
type Directory struct {
	mu     sync.Mutex
	groups map[string][]string
	err    error
}

// NewDirectory returns a Directory with the given groups.
func NewDirectory(groups map[string][]string) *Directory {
	d := &Directory{groups: map[string][]string{}}
	for g, ms := range groups {
		d.groups[g] = slices.Clone(ms)
	}
	return d
}

// Set replaces a group's members: membership is read on every call, so a change applies at once.
func (d *Directory) Set(group string, members ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.groups[group] = slices.Clone(members)
}

// FailWith makes every lookup fail with err (nil to stop).
func (d *Directory) FailWith(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

// MemberOf implements grants.Directory.
func (d *Directory) MemberOf(_ context.Context, a grants.Actor, group string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return false, d.err
	}
	for _, m := range d.groups[group] {
		if grants.MatchesPerson(a, m) {
			return true, nil
		}
	}
	return false, nil
}

// SecretRecorder is a grants.SecretSink that keeps what it is given.
type SecretRecorder struct {
	mu        sync.Mutex
	delivered []DeliveredSecret
	err       error
}

// DeliveredSecret is one secret delivery.
type DeliveredSecret struct {
	Grant  grants.Grant
	Secret adapters.Secret
}

// FailWith makes deliveries fail with err (nil to stop).
func (r *SecretRecorder) FailWith(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// DeliverSecret implements grants.SecretSink.
func (r *SecretRecorder) DeliverSecret(_ context.Context, g grants.Grant, s *adapters.Secret) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.delivered = append(r.delivered, DeliveredSecret{Grant: g, Secret: *s})
	return nil
}

// Delivered returns the deliveries so far.
func (r *SecretRecorder) Delivered() []DeliveredSecret {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.delivered)
}

// EventRecorder is a grants.Notifier that keeps every event it hears of.
type EventRecorder struct {
	mu     sync.Mutex
	events []audit.Event
}

// Notify implements grants.Notifier.
func (r *EventRecorder) Notify(_ context.Context, events []audit.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, events...)
}

// Events returns the events heard so far, optionally only those of the given types.
func (r *EventRecorder) Events(types ...string) []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Event
	for _, e := range r.events {
		if len(types) == 0 || slices.Contains(types, e.Type) {
			out = append(out, e)
		}
	}
	return out
}

// MetricsRecorder is a grants.Metrics that keeps what it is told.
type MetricsRecorder struct {
	mu             sync.Mutex
	Lateness       []time.Duration
	RevokeFailures map[string]int
	AdapterCalls   map[string]int // "resource/op/ok|error"
}

// NewMetricsRecorder returns an empty recorder.
func NewMetricsRecorder() *MetricsRecorder {
	return &MetricsRecorder{RevokeFailures: map[string]int{}, AdapterCalls: map[string]int{}}
}

// RevokeLateness implements grants.Metrics.
func (m *MetricsRecorder) RevokeLateness(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Lateness = append(m.Lateness, d)
}

// RevokeFailure implements grants.Metrics.
func (m *MetricsRecorder) RevokeFailure(resource string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.RevokeFailures[resource]++
}

// AdapterCall implements grants.Metrics.
func (m *MetricsRecorder) AdapterCall(resource, op string, _ time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.AdapterCalls[fmt.Sprintf("%s/%s/%s", resource, op, result)]++
}

// Snapshot returns copies of what was recorded.
func (m *MetricsRecorder) Snapshot() (lateness []time.Duration, failures, calls map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.Lateness), maps.Clone(m.RevokeFailures), maps.Clone(m.AdapterCalls)
}

// Retryable is a retryable adapter error for tests.
var Retryable = adapters.RetryableError(errors.New("target unreachable"))

// Permanent is a permanent adapter error for tests.
var Permanent = adapters.PermanentError(errors.New("no such user at the target"))

// Aliases is a static grants.Aliases: platform person ID ("slack:U0ALICE") to the person's
// email, as a platform that knows the email would answer.
type Aliases map[string]string

// ResolvePerson implements grants.Aliases.
func (m Aliases) ResolvePerson(_ context.Context, id string) (string, error) {
	if p, ok := m[id]; ok {
		return p, nil
	}
	return id, nil
}

var _ grants.Aliases = Aliases(nil)
