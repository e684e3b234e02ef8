package grants

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// Thresholds of the misuse signals. They are fixed rather than configured: a rule that wants a
// different line reads the numbers (signals.requests_24h, signals.duration_ratio) itself.
const (
	// FirstAccessWindow is the window of signals.first_access_90d.
	FirstAccessWindow = 90 * 24 * time.Hour
	// VolumeWindow is the window of signals.requests_24h.
	VolumeWindow = 24 * time.Hour
	// VolumeDays is how many days signals.median_requests_30d takes the median of.
	VolumeDays = 30
	// VolumeFactor and VolumeFloor say when requests_24h is unusual: more than VolumeFactor
	// times the person's daily median, and at least VolumeFloor (most people's median is 0).
	VolumeFactor = 3
	VolumeFloor  = 5
	// DurationSample is how many of the resource's latest approved requests the duration median
	// is taken over; DurationMinSample is how many it needs before duration_ratio is worked out.
	DurationSample    = 200
	DurationMinSample = 5
	// DurationFactor is how far above the resource's median a duration is "far above".
	DurationFactor = 3
	// DenialWindow is the window of signals.recent_denial.
	DenialWindow = 24 * time.Hour
)

// Names of the raised signals (Signals.Raised, Request.Signals), in the order they are shown.
const (
	SignalFirstAccess    = "first_access"
	SignalFirstAccess90d = "first_access_90d"
	SignalOutsideHours   = "outside_hours"
	SignalHighVolume     = "high_volume"
	SignalLongDuration   = "long_duration"
	SignalBreakGlass     = "break_glass"
	SignalRecentDenial   = "recent_denial"
)

// BuiltinAlerts are the alerts the engine raises itself (alert.raised's alert field); an
// alerts: rule may not take one of their names.
func BuiltinAlerts() []string {
	return []string{audit.AlertBreakGlass, audit.AlertRevokeFailed, audit.AlertAccountTaken, audit.AlertGitHubLoginTaken}
}

// Signals are what the log says about a request that may make it unusual, computed when the
// request is made. CEL rules (auto_approve, require_approvals.when, alerts) see them as
// `signals.<cel name>`.
type Signals struct {
	// FirstAccess: the person has never held a grant to the resource.
	FirstAccess bool `cel:"first_access"`
	// FirstAccess90d: the person has held no grant to the resource in FirstAccessWindow (true
	// whenever FirstAccess is).
	FirstAccess90d bool `cel:"first_access_90d"`
	// OutsideHours: the request is made outside the working hours (digest.working_hours, read
	// in time_zone).
	OutsideHours bool `cel:"outside_hours"`
	// Requests24h is the person's requests in the last 24 hours, this one included.
	Requests24h int64 `cel:"requests_24h"`
	// MedianRequests30d is the median of the person's requests per day over the last 30 days.
	MedianRequests30d float64 `cel:"median_requests_30d"`
	// DurationRatio is the duration asked for over the median of the resource's latest approved
	// durations; 0 when the resource has fewer than DurationMinSample of them.
	DurationRatio float64 `cel:"duration_ratio"`
	// BreakGlass: the request is a break-glass use.
	BreakGlass bool `cel:"break_glass"`
	// RecentDenial: the same request (person and resource) was denied in the last DenialWindow.
	RecentDenial bool `cel:"recent_denial"`
	// Raised names the signals that are on (the Signal* names), for `size(signals.raised) > 1`.
	Raised []string `cel:"raised"`
}

// HighVolume reports whether Requests24h is unusual for the person.
func (s Signals) HighVolume() bool {
	return s.Requests24h >= VolumeFloor && float64(s.Requests24h) > VolumeFactor*s.MedianRequests30d
}

// LongDuration reports whether the duration is far above the resource's median.
func (s Signals) LongDuration() bool { return s.DurationRatio >= DurationFactor }

// raised lists the signals that are on, in the order of the Signal* names; first_access_90d only when first_access
// is off, since it then says nothing more.
func (s Signals) raised() []string {
	var out []string
	add := func(on bool, name string) {
		if on {
			out = append(out, name)
		}
	}
	add(s.FirstAccess, SignalFirstAccess)
	add(s.FirstAccess90d && !s.FirstAccess, SignalFirstAccess90d)
	add(s.OutsideHours, SignalOutsideHours)
	add(s.HighVolume(), SignalHighVolume)
	add(s.LongDuration(), SignalLongDuration)
	add(s.BreakGlass, SignalBreakGlass)
	add(s.RecentDenial, SignalRecentDenial)
	return out
}

// SignalQuery asks the store for the facts of one request's signals.
type SignalQuery struct {
	Person   string
	Resource string
	Now      time.Time
}

// SignalFacts are what the store reads for the signals, each an index range read.
type SignalFacts struct {
	// LastGrant is when the person's latest grant to the resource was made; zero for never.
	LastGrant time.Time
	// Requests24h counts the person's requests in (Now-VolumeWindow, Now].
	Requests24h int
	// Daily holds the person's requests on each of the VolumeDays days before Now, oldest
	// first (days are VolumeDays consecutive 24-hour spans ending at Now).
	Daily []int
	// Durations are the durations of up to DurationSample of the resource's latest approved
	// access and break-glass requests.
	Durations []time.Duration
	// DeniedRecently: a request of the person for the resource was denied in
	// (Now-DenialWindow, Now].
	DeniedRecently bool
}

// WorkingHours say when access is expected: Days, from Start to End, wall clock in the
// Service's Location. They are the digest's working hours (digest.working_hours).
type WorkingHours struct {
	Days []time.Weekday
	// Start and End are offsets from midnight; End before Start is a shift over midnight.
	Start, End time.Duration
}

// DefaultWorkingHours is Monday to Friday, 09:00 to 18:00, as the digest's default.
func DefaultWorkingHours() WorkingHours {
	return WorkingHours{
		Days:  []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		Start: 9 * time.Hour, End: 18 * time.Hour,
	}
}

// Contains reports whether t (read in its own location) is within working hours. A shift over
// midnight belongs to the day it starts, as in the digest.
func (w WorkingHours) Contains(t time.Time) bool {
	tod := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
	day := t.Weekday()
	if w.Start <= w.End {
		return slices.Contains(w.Days, day) && tod >= w.Start && tod < w.End
	}
	if tod >= w.Start {
		return slices.Contains(w.Days, day)
	}
	return tod < w.End && slices.Contains(w.Days, (day+6)%7)
}

// ComputeSignals turns the store's facts into signals for a request of kind for d, made at now
// (in the working hours' location).
func ComputeSignals(f SignalFacts, kind RequestKind, d time.Duration, now time.Time, wh WorkingHours) Signals {
	s := Signals{
		FirstAccess:       f.LastGrant.IsZero(),
		FirstAccess90d:    f.LastGrant.IsZero() || !f.LastGrant.After(now.Add(-FirstAccessWindow)),
		OutsideHours:      !wh.Contains(now),
		Requests24h:       int64(f.Requests24h) + 1,
		MedianRequests30d: medianInts(f.Daily, VolumeDays),
		BreakGlass:        kind == KindBreakGlass,
		RecentDenial:      f.DeniedRecently,
	}
	if len(f.Durations) >= DurationMinSample {
		if m := medianDurations(f.Durations); m > 0 {
			s.DurationRatio = float64(d) / float64(m)
		}
	}
	s.Raised = s.raised()
	return s
}

// medianInts is the median of days values, where days past len(xs) count as 0.
func medianInts(xs []int, days int) float64 {
	all := make([]int, max(days, len(xs)))
	copy(all, xs)
	sort.Ints(all)
	n := len(all)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return float64(all[n/2])
	}
	return float64(all[n/2-1]+all[n/2]) / 2
}

func medianDurations(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// signalsFor reads the facts and computes the signals of a's request for r.
func (s *Service) signalsFor(ctx context.Context, a Actor, r *Resource, kind RequestKind, d time.Duration, now time.Time) (Signals, error) {
	var f SignalFacts
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		f, err = tx.SignalFacts(ctx, SignalQuery{Person: a.ID, Resource: r.Name, Now: now})
		return err
	})
	if err != nil {
		return Signals{}, fmt.Errorf("read the signals of %s's request for %s: %w", a.ID, r.Name, err)
	}
	return ComputeSignals(f, kind, d, now.In(s.loc), s.workingHours), nil
}

// SignalLabel is how a person reads a raised signal's name.
func SignalLabel(name string) string {
	switch name {
	case SignalFirstAccess:
		return "first access"
	case SignalFirstAccess90d:
		return "first access in 90 days"
	case SignalOutsideHours:
		return "outside working hours"
	case SignalHighVolume:
		return "unusual number of requests"
	case SignalLongDuration:
		return "duration far above usual"
	case SignalBreakGlass:
		return "break-glass"
	case SignalRecentDenial:
		return "denied in the last 24 h"
	}
	return strings.ReplaceAll(name, "_", " ")
}

// record is the signals as the request.created event keeps them.
func (s Signals) record() *audit.RequestSignals {
	return &audit.RequestSignals{
		Raised:            slices.Clone(s.Raised),
		FirstAccess:       s.FirstAccess,
		FirstAccess90d:    s.FirstAccess90d,
		OutsideHours:      s.OutsideHours,
		Requests24h:       s.Requests24h,
		MedianRequests30d: s.MedianRequests30d,
		DurationRatio:     math.Round(s.DurationRatio*100) / 100,
		BreakGlass:        s.BreakGlass,
		RecentDenial:      s.RecentDenial,
	}
}

// requiresMoreApprovals evaluates the policy's require_approvals condition. An error counts as
// "yes": a condition that cannot be decided must not let a request through with fewer approvers.
func (s *Service) requiresMoreApprovals(r *Resource, in RuleInput) bool {
	ra := r.Policy.RequireApprovals
	if ra == nil || ra.When == nil {
		return false
	}
	ok, err := ra.When.Eval(in)
	if err != nil {
		s.log.Warn().Err(err).Str("resource", r.Name).Msg("require_approvals condition failed; the request needs the higher number of approvals")
		return true
	}
	return ok
}

// firedAlerts returns the alerts: rules whose condition holds for in. A rule whose evaluation
// fails is logged and does not fire: an alert is a warning, not a gate.
func (s *Service) firedAlerts(r *Resource, in RuleInput) []AlertRule {
	var out []AlertRule
	for _, al := range s.alerts {
		ok, err := al.When.Eval(in)
		if err != nil {
			s.log.Warn().Err(err).Str("alert", al.Name).Str("resource", r.Name).Msg("alert condition failed")
			continue
		}
		if ok {
			out = append(out, al)
		}
	}
	return out
}

// alertPayload is the alert.raised an alerts: rule writes for req.
func (s *Service) alertPayload(al AlertRule, a Actor, req Request, sig Signals) audit.AlertRaisedData {
	msg := fmt.Sprintf("%s requested %s for %s (alert rule %s)", displayName(a), req.Resource, fmtDuration(req.Duration), al.Name)
	if len(sig.Raised) > 0 {
		labels := make([]string, len(sig.Raised))
		for i, n := range sig.Raised {
			labels[i] = SignalLabel(n)
		}
		msg += "; signals: " + strings.Join(labels, ", ")
	}
	return audit.AlertRaisedData{Alert: al.Name, Message: msg, Severity: al.Severity}
}
