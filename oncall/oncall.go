package oncall

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/grants"
	"github.com/accessbot/accessbot/internal/clock"
)

// Shift is one person on call now.
type Shift struct {
	// Email is how the person is matched to accessbot's people (case-folded).
	Email string
	// Name is how the provider shows them; empty when it does not say.
	Name string
	// Level is the escalation level they are on call at (from 1); 0 for a schedule.
	Level int
}

// Provider says who is on call now for a schedule or an escalation policy (every level). It
// answers by ctx's deadline; ErrNotFound and ErrUnauthorized say what went wrong when the
// provider did.
type Provider interface {
	OnCall(ctx context.Context, t Target) ([]Shift, error)
}

var (
	// ErrNotFound: the schedule or escalation policy does not exist (or accessbot's key cannot
	// see it).
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: the provider refused accessbot's token.
	ErrUnauthorized = errors.New("token refused")
	// ErrNotConfigured: a rota names a provider that has no section in the config.
	ErrNotConfigured = errors.New("provider not configured")
)

// Defaults of Options.
const (
	DefaultCacheTTL = time.Minute
	// DefaultTimeout leaves a request's 2 s of outside checks time to hear a provider's error.
	DefaultTimeout = 1500 * time.Millisecond
	// errorTTL is how long a failed answer is kept: the several questions of one request share
	// it, and a provider that is down or rate limiting is not asked again at every click.
	errorTTL = 5 * time.Second
)

// Options configure a Rotas.
type Options struct {
	// Providers by name (PagerDuty, Opsgenie); only the configured ones.
	Providers map[string]Provider
	// Rotas are every rota the config names (approver groups and rules): `oncall` is "on
	// call on one of these", and the readiness check asks each.
	Rotas []Rota
	// CacheTTL is how long an answer is used; default 1 min.
	CacheTTL time.Duration
	// Timeout bounds one fetch, whoever waits for it; default 1.5 s.
	Timeout time.Duration
	Clock   clock.Clock
	Log     zerolog.Logger
}

// Rotas answers who is on call now, from a brief cache in front of the providers. Concurrent
// callers asking for one target share one fetch, which runs with its own deadline so that the
// first caller leaving does not fail the others.
type Rotas struct {
	providers map[string]Provider
	rotas     []Rota
	ttl       time.Duration
	timeout   time.Duration
	clock     clock.Clock
	log       zerolog.Logger

	mu    sync.Mutex
	cache map[Target]*fetch
}

// fetch is one answer for a target, or the one being fetched (done not yet closed).
type fetch struct {
	done   chan struct{}
	shifts []Shift
	err    error
	at     time.Time
}

// New builds a Rotas.
func New(o Options) *Rotas {
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return &Rotas{providers: o.Providers, rotas: append([]Rota(nil), o.Rotas...), ttl: o.CacheTTL,
		timeout: o.Timeout, clock: o.Clock, log: o.Log, cache: map[Target]*fetch{}}
}

// Configured returns the rotas the config names.
func (s *Rotas) Configured() []Rota { return append([]Rota(nil), s.rotas...) }

// shifts returns who is on call for t now: from the cache while fresh, else from one fetch
// shared with every concurrent caller. An error is kept a few seconds only (errorTTL).
func (s *Rotas) shifts(ctx context.Context, t Target) ([]Shift, error) {
	p := s.providers[t.Provider]
	if p == nil {
		return nil, &RotaError{Target: t, Err: fmt.Errorf("%w (no oncall.%s section)", ErrNotConfigured, t.Provider)}
	}
	s.mu.Lock()
	f := s.cache[t]
	if f != nil {
		select {
		case <-f.done:
			ttl := s.ttl
			if f.err != nil {
				ttl = min(ttl, errorTTL)
			}
			if s.clock.Now().Sub(f.at) >= ttl {
				f = nil
			}
		default: // being fetched: wait for it below
		}
	}
	if f == nil {
		f = &fetch{done: make(chan struct{})}
		s.cache[t] = f
		go s.run(p, t, f)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.shifts, f.err
	case <-ctx.Done():
		return nil, &RotaError{Target: t, Err: ctx.Err()}
	}
}

// run fetches t into f, bounded by the timeout and detached from any one caller.
func (s *Rotas) run(p Provider, t Target, f *fetch) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	shifts, err := p.OnCall(ctx, t)
	if err != nil {
		err = &RotaError{Target: t, Err: err}
		s.log.Warn().Err(err).Str("rota", t.String()).Msg("on-call lookup failed; the rota has no members until it answers")
	}
	f.shifts, f.err, f.at = shifts, err, s.clock.Now()
	close(f.done)
}

// prefetch asks for every target of rotas at once, so that a request's questions about several
// rotas wait for the slowest provider, not for the sum of them; what it finds (or the error)
// is in the cache for the questions that follow.
func (s *Rotas) prefetch(ctx context.Context, rotas []Rota) {
	seen := map[Target]bool{}
	var wg sync.WaitGroup
	for _, r := range rotas {
		if t := r.Target(); !seen[t] {
			seen[t] = true
			wg.Go(func() { _, _ = s.shifts(ctx, t) })
		}
	}
	wg.Wait()
}

// OnCall returns the people on call now for the rota (at its level, for an escalation rota).
func (s *Rotas) OnCall(ctx context.Context, r Rota) ([]Shift, error) {
	all, err := s.shifts(ctx, r.Target())
	if err != nil {
		return nil, err
	}
	return atLevel(all, r.Level), nil
}

// ForRequest returns who counts as on call for the rota when deciding a request of requester's
// (a person ID): the people on call less the requester, and, for an escalation rota whose
// level has the requester on call, the people at the next level too (never self-approval:
// the requester is never among them). next reports whether the next level was added.
func (s *Rotas) ForRequest(ctx context.Context, r Rota, requester string) (people []Shift, next bool, err error) {
	all, err := s.shifts(ctx, r.Target())
	if err != nil {
		return nil, false, err
	}
	requester = grants.CanonicalPerson(requester)
	level := atLevel(all, r.Level)
	for _, sh := range level {
		if isPerson(sh, requester) {
			next = r.Kind == KindEscalation
			continue
		}
		people = append(people, sh)
	}
	if next {
		for _, sh := range atLevel(all, r.Level+1) {
			if !isPerson(sh, requester) && !hasEmail(people, sh.Email) {
				people = append(people, sh)
			}
		}
	}
	return people, next, nil
}

// RequesterOnCall returns the configured rotas the person is on call on now, and the error
// of any rota that could not be asked (then the list is what could be found).
func (s *Rotas) RequesterOnCall(ctx context.Context, person string) ([]string, error) {
	person = grants.CanonicalPerson(person)
	var on []string
	var errs []error
	for _, r := range s.rotas {
		shifts, err := s.OnCall(ctx, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, sh := range shifts {
			if isPerson(sh, person) {
				on = append(on, r.String())
				break
			}
		}
	}
	return on, errors.Join(errs...)
}

// Check implements adapters.Checker for /readyz: every configured rota exists and its
// provider answers.
func (s *Rotas) Check(ctx context.Context) error {
	var errs []error
	seen := map[Target]bool{}
	for _, r := range s.rotas {
		if seen[r.Target()] {
			continue
		}
		seen[r.Target()] = true
		if _, err := s.shifts(ctx, r.Target()); err != nil {
			errs = append(errs, errors.New(Explain(err)))
		}
	}
	return errors.Join(errs...)
}

// Explain is an on-call error as a person reads it: it names the rota (every error of Rotas
// does) and says a timeout plainly.
func Explain(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return strings.TrimSuffix(err.Error(), ": "+context.DeadlineExceeded.Error()) + ": no answer in time"
	}
	return err.Error()
}

func atLevel(all []Shift, level int) []Shift {
	var out []Shift
	for _, sh := range all {
		if sh.Level == level || level == 0 {
			out = append(out, sh)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i].Email) < strings.ToLower(out[j].Email) })
	return out
}

// isPerson reports whether the shift is the person (a canonical person ID: their email).
func isPerson(sh Shift, person string) bool {
	return sh.Email != "" && strings.EqualFold(grants.CanonicalPerson(sh.Email), person)
}

func hasEmail(shifts []Shift, email string) bool {
	for _, sh := range shifts {
		if strings.EqualFold(sh.Email, email) {
			return true
		}
	}
	return false
}

// PersonID is the accessbot person ID of the shift: its case-folded email.
func (sh Shift) PersonID() string { return grants.CanonicalPerson(sh.Email) }

// Display is how the shift is shown: its name, else its email.
func (sh Shift) Display() string {
	if sh.Name != "" {
		return sh.Name
	}
	return sh.Email
}

// RotaError is a rota that could not be asked. It reads "ask who is on call for <rota>: …"
// in logs, and PersonMessage is the sentence chat shows someone whose click it stopped.
type RotaError struct {
	Target Target
	Err    error
}

func (e *RotaError) Error() string {
	return "ask who is on call for " + e.Target.String() + ": " + e.Err.Error()
}
func (e *RotaError) Unwrap() error { return e.Err }

// PersonMessage says what could not be checked, naming the rota, and what still works.
func (e *RotaError) PersonMessage() string {
	why := e.Err.Error()
	if errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, context.Canceled) {
		why = "no answer in time"
	}
	return fmt.Sprintf("accessbot could not ask who is on call for %s (%s), so it cannot tell whether you are. "+
		"Approvers in the resource's other groups can still decide.", e.Target, why)
}

// refusal is a provider's answer that means something to accessbot (ErrNotFound,
// ErrUnauthorized): it reads as its sentence and the provider's words, and is both errors.
type refusal struct {
	msg   string
	kind  error
	cause error
}

// Refused builds a provider error that is kind (errors.Is) and reads "msg: cause".
func Refused(msg string, kind, cause error) error {
	return &refusal{msg: msg, kind: kind, cause: cause}
}

func (r *refusal) Error() string   { return r.msg + ": " + r.cause.Error() }
func (r *refusal) Unwrap() []error { return []error{r.kind, r.cause} }
