package grants

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/internal/schedule"
)

// The standing-privilege scan asks every target whose adapter can list (adapters.Lister) who
// holds access there now, and reports the holders that no active grant explains: a role granted
// by hand, a revocation that reported success but left the access in place, a grant left
// unrevoked long after its expiry.
//
// The rule, for each holder a target lists (adapters.Access):
//
//   - A holder whose account matches one of the resource's ignore patterns (ScanOptions.Ignore,
//     from the config's scan.ignore) is expected standing access: counted, never a finding.
//     Adapters already leave out their own service account (the PostgreSQL bot role, the MySQL
//     bot login, the Redis bot user, the LDAP placeholder member).
//   - When the target names the grant that made the access (Access.GrantID: ephemeral
//     PostgreSQL roles, Redis users), that grant explains it if it is activating, active or
//     revoking at this resource, for the same account.
//   - A target that names the grant behind all of accessbot's access there (adapters.Attributor:
//     Kubernetes bindings, conditional IAM bindings) lists access without a grant ID only when
//     someone else made it: a finding, whatever grants the account holds.
//   - Otherwise any activating, active or revoking grant of the resource for the same account
//     (compared case-insensitively) explains it.
//   - An active grant stops explaining access once it is more than ScanOptions.Grace past its
//     expiry: the scheduler should have revoked it by then. A revoke_failed grant never explains
//     access: the revocation it needs has not happened.
//
// Listing and reading grants are not one transaction, so a grant revoked between the two would
// look like a finding. The scan lists first and reads the grants after (a grant row is stored
// before its adapter is called, so every listed access made by accessbot has its row by then),
// and when a resource has findings it lists and reads once more, keeping only the findings seen
// both times.

// Scan finding reasons, as ScanFinding.Reason and the audit event name them.
const (
	ScanNoGrant      = "no_grant"      // no active grant of the resource for this account
	ScanUnknownGrant = "unknown_grant" // the target names a grant this resource never had
	ScanGrantEnded   = "grant_ended"   // the target names a grant that is revoked or failed
	ScanRevokeFailed = "revoke_failed" // the only grant is revoke_failed
	ScanOverdue      = "overdue"       // the grant expired more than the grace period ago
	ScanOtherAccount = "other_account" // the target names a grant made for another account
)

// ScanAlert is the "alert" data of a scan.completed event that found something.
const ScanAlert = "standing_access"

// maxEventFindings bounds the findings one audit event lists; "findings" always holds the
// total.
const maxEventFindings = 50

// ScanOptions configure a Scanner; zero values take the defaults.
type ScanOptions struct {
	// Ignore maps a resource name to the holders it is expected to have: account names as the
	// adapter lists them, or path.Match patterns ("svc_*"), compared case-insensitively.
	Ignore map[string][]string
	// Grace is how long past its expiry an active grant still explains access (the scheduler
	// revokes within seconds); default 5m.
	Grace time.Duration
	// CallTimeout bounds one List call; default 2m.
	CallTimeout time.Duration
	// Parallel bounds how many resources are listed at once; default 4.
	Parallel int
}

// Scanner runs standing-privilege scans over a Service's resources.
type Scanner struct {
	svc *Service
	o   ScanOptions
	log zerolog.Logger
}

// NewScanner checks the options and builds a Scanner. An ignore list for a resource the Service
// does not have, or a malformed pattern, is an error.
func NewScanner(s *Service, o ScanOptions) (*Scanner, error) {
	if s == nil {
		return nil, errors.New("scanner needs a grants service")
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Minute
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 2 * time.Minute
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	ignore := make(map[string][]string, len(o.Ignore))
	for name, patterns := range o.Ignore {
		if _, ok := s.resources[name]; !ok {
			return nil, fmt.Errorf("scan ignore list for unknown resource %q", name)
		}
		for _, p := range patterns {
			if err := ValidHolderPattern(p); err != nil {
				return nil, fmt.Errorf("scan ignore list of %s: %w", name, err)
			}
		}
		ignore[name] = append([]string(nil), patterns...)
	}
	o.Ignore = ignore
	return &Scanner{svc: s, o: o, log: s.log.With().Str("component", "scan").Logger()}, nil
}

// ValidHolderPattern checks an ignore pattern: a non-empty account name or path.Match pattern.
func ValidHolderPattern(p string) error {
	if strings.TrimSpace(p) == "" {
		return errors.New("empty holder pattern")
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("holder pattern %q is malformed: %w", p, err)
	}
	return nil
}

// MatchHolder reports whether an ignore pattern matches an account, case-insensitively.
func MatchHolder(pattern, account string) bool {
	ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(account))
	return err == nil && ok
}

// ScanFinding is one holder at a target that no active grant explains. It is the type the
// scan.completed event lists, so that the audit payload and the scan share one definition.
type ScanFinding = audit.ScanFinding

// ResourceScan is what the scan saw at one resource.
type ResourceScan struct {
	Resource string `json:"resource"`
	// Holders counts the access entries the target listed.
	Holders int `json:"holders"`
	// Ignored counts the holders the resource's ignore list expects.
	Ignored  int           `json:"ignored"`
	Findings []ScanFinding `json:"findings"`
	// Error is why the target could not be listed; the resource is then not scanned (or, when
	// confirming findings failed, its findings are unconfirmed).
	Error string `json:"error,omitempty"`
}

// ScanReport is the result of one scan.
type ScanReport struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	// Resources are the resources whose adapter can list, sorted by name.
	Resources []ResourceScan `json:"resources"`
	// Unlistable names the resources whose adapter cannot list: not scanned.
	Unlistable []string `json:"unlistable,omitempty"`
	// AuditSeq is the sequence number of the scan.completed event.
	AuditSeq int64 `json:"audit_seq"`
}

// Findings returns every finding, by resource and account.
func (r ScanReport) Findings() []ScanFinding {
	var out []ScanFinding
	for _, rs := range r.Resources {
		out = append(out, rs.Findings...)
	}
	return out
}

// Errors maps each resource that could not be listed to why.
func (r ScanReport) Errors() map[string]string {
	out := map[string]string{}
	for _, rs := range r.Resources {
		if rs.Error != "" {
			out[rs.Resource] = rs.Error
		}
	}
	return out
}

// Scan lists every resource whose adapter can list, reports the access no active grant
// explains, and records the scan as one scan.completed audit event (an alert when it found
// anything). by is who ran it; the zero Actor means accessbot itself. A resource that cannot be
// listed is reported in its ResourceScan, not as an error; the error is for a scan that could
// not be recorded.
func (sc *Scanner) Scan(ctx context.Context, by Actor) (ScanReport, error) {
	if by.ID == "" {
		by = System
	}
	rep := ScanReport{At: sc.svc.now(), Actor: by.ID}
	type target struct {
		r *Resource
		l adapters.Lister
	}
	var targets []target
	for _, r := range sc.svc.ordered {
		if l, ok := r.Adapter.(adapters.Lister); ok {
			targets = append(targets, target{r, l})
		} else {
			rep.Unlistable = append(rep.Unlistable, r.Name)
		}
	}
	rep.Resources = make([]ResourceScan, len(targets))
	sem := make(chan struct{}, sc.o.Parallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rep.Resources[i] = sc.scanResource(ctx, t.r, t.l)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("scan: %w", err)
	}

	e := scanEvent(rep)
	err := sc.svc.update(ctx, sc.svc.now(), func(t *txn) error {
		if err := t.event(ctx, e); err != nil {
			return err
		}
		rep.AuditSeq = t.events[len(t.events)-1].Seq
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("record scan: %w", err)
	}
	findings, errs := rep.Findings(), rep.Errors()
	l := sc.log.Info()
	if len(findings) > 0 {
		l = sc.log.Warn()
	}
	l.Int("resources", len(rep.Resources)).Int("findings", len(findings)).Int("errors", len(errs)).
		Int64("audit_seq", rep.AuditSeq).Str("actor", by.ID).Msg("standing-privilege scan done")
	for name, msg := range errs {
		sc.log.Warn().Str("resource", name).Str("error", msg).Msg("scan could not list a resource")
	}
	return rep, nil
}

// scanResource lists one resource and, when that finds something, lists again to confirm.
func (sc *Scanner) scanResource(ctx context.Context, r *Resource, l adapters.Lister) ResourceScan {
	res := ResourceScan{Resource: r.Name, Findings: []ScanFinding{}}
	first, err := sc.pass(ctx, r, l)
	if err != nil {
		res.Error = clip(err.Error(), 500)
		return res
	}
	res.Holders, res.Ignored = first.holders, first.ignored
	if len(first.findings) == 0 {
		return res
	}
	second, err := sc.pass(ctx, r, l)
	if err != nil {
		// Better an unconfirmed finding than a hidden one.
		res.Findings = first.findings
		res.Error = clip("confirming the findings: "+err.Error(), 500)
		return res
	}
	seen := map[string]bool{}
	for _, f := range first.findings {
		seen[findingKey(f)] = true
	}
	for _, f := range second.findings {
		if seen[findingKey(f)] {
			res.Findings = append(res.Findings, f)
		}
	}
	return res
}

func findingKey(f ScanFinding) string {
	return strings.ToLower(f.Account) + "\x00" + f.Detail + "\x00" + f.GrantID
}

type passResult struct {
	holders, ignored int
	findings         []ScanFinding
}

// liveStates are the grant states that explain access at the target (revoke_failed is read
// too, to say why it does not).
var liveStates = []GrantState{GrantActivating, GrantActive, GrantRevoking, GrantRevokeFailed}

// pass lists the target, then reads the resource's grants, and classifies every holder.
func (sc *Scanner) pass(ctx context.Context, r *Resource, l adapters.Lister) (passResult, error) {
	var out passResult
	cctx, cancel := context.WithTimeout(ctx, sc.o.CallTimeout)
	start := time.Now()
	list, err := l.List(cctx)
	cancel()
	sc.svc.metrics.AdapterCall(r.Name, "list", time.Since(start), err)
	if err != nil {
		return out, fmt.Errorf("list access at %s: %w", r.Name, err)
	}
	listed := sc.svc.now()

	var live []Grant
	named := map[string]*Grant{}
	err = sc.svc.store.View(ctx, func(tx ReadTx) error {
		var err error
		live, err = tx.Grants(ctx, GrantFilter{Resource: r.Name, States: liveStates})
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, g := range live {
			have[g.ID] = true
		}
		for _, a := range list {
			if a.GrantID == "" || have[a.GrantID] {
				continue
			}
			if _, done := named[a.GrantID]; done {
				continue
			}
			g, err := tx.Grant(ctx, a.GrantID)
			switch {
			case errors.Is(err, ErrNotFound):
				named[a.GrantID] = nil
			case err != nil:
				return err
			default:
				named[a.GrantID] = &g
			}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("read grants of %s: %w", r.Name, err)
	}
	for i := range live {
		named[live[i].ID] = &live[i]
	}

	attr, ok := l.(adapters.Attributor)
	attributes := ok && attr.AttributesGrants()
	out.findings = []ScanFinding{}
	for _, a := range list {
		out.holders++
		if sc.ignored(r.Name, a.Account) {
			out.ignored++
			continue
		}
		if f, bad := sc.explain(r.Name, a, live, named, listed, attributes); bad {
			out.findings = append(out.findings, f)
		}
	}
	sort.SliceStable(out.findings, func(i, j int) bool {
		if out.findings[i].Account != out.findings[j].Account {
			return out.findings[i].Account < out.findings[j].Account
		}
		return out.findings[i].Detail < out.findings[j].Detail
	})
	return out, nil
}

func (sc *Scanner) ignored(resource, account string) bool {
	for _, p := range sc.o.Ignore[resource] {
		if MatchHolder(p, account) {
			return true
		}
	}
	return false
}

// explain returns the finding for a holder no grant explains; bad is false when one does.
// attributes says the target names the grant behind all of accessbot's access (an
// adapters.Attributor), so access without a grant ID is never a grant's.
func (sc *Scanner) explain(resource string, a adapters.Access, live []Grant, named map[string]*Grant, listed time.Time, attributes bool) (f ScanFinding, bad bool) {
	f = ScanFinding{Resource: resource, Account: a.Account, Detail: a.Detail, GrantID: a.GrantID}
	if a.GrantID != "" {
		g := named[a.GrantID]
		switch {
		case g == nil || g.Resource != resource:
			f.Reason, f.Why = ScanUnknownGrant, fmt.Sprintf("the target names grant %s, which %s never had", a.GrantID, resource)
		case !strings.EqualFold(g.Account, a.Account):
			f.Reason, f.Why = ScanOtherAccount, fmt.Sprintf("grant %s is for account %s, not %s", g.ID, g.Account, a.Account)
		default:
			if reason, why, explains := sc.judge(*g, listed); !explains {
				f.Reason, f.Why = reason, why
			} else {
				return f, false
			}
		}
		return f, true
	}
	if attributes {
		f.Reason, f.Why = ScanNoGrant, "the target names no grant for this access, and all of accessbot's access at "+resource+" names its grant"
		return f, true
	}
	var failed, overdue *Grant
	for i := range live {
		g := &live[i]
		if !strings.EqualFold(g.Account, a.Account) {
			continue
		}
		reason, _, explains := sc.judge(*g, listed)
		if explains {
			return f, false
		}
		switch reason {
		case ScanRevokeFailed:
			failed = g
		case ScanOverdue:
			overdue = g
		}
	}
	switch {
	case failed != nil:
		_, f.Why, _ = sc.judge(*failed, listed)
		f.Reason, f.GrantID = ScanRevokeFailed, failed.ID
	case overdue != nil:
		_, f.Why, _ = sc.judge(*overdue, listed)
		f.Reason, f.GrantID = ScanOverdue, overdue.ID
	default:
		f.Reason, f.Why = ScanNoGrant, "no active grant"
	}
	return f, true
}

// judge says whether a grant of the holder's account explains the access at listed, and why not.
func (sc *Scanner) judge(g Grant, listed time.Time) (reason, why string, explains bool) {
	switch g.State {
	case GrantActivating, GrantRevoking:
		return "", "", true
	case GrantActive:
		if listed.Sub(g.ExpiresAt) <= sc.o.Grace {
			return "", "", true
		}
		return ScanOverdue, fmt.Sprintf("grant %s expired at %s and is not revoked yet", g.ID, g.ExpiresAt.UTC().Format(time.RFC3339)), false
	case GrantRevokeFailed:
		return ScanRevokeFailed, fmt.Sprintf("grant %s could not be revoked (revoke_failed)", g.ID), false
	case GrantRevoked:
		return ScanGrantEnded, fmt.Sprintf("grant %s was revoked, yet the access is still there", g.ID), false
	default:
		return ScanGrantEnded, fmt.Sprintf("grant %s is %s", g.ID, g.State), false
	}
}

// scanEvent is the one audit event of a scan. Its data: resources (the names scanned, comma
// separated), findings and errors (counts), list (JSON array of at most 50 ScanFindings,
// details clipped), error_list (JSON object: resource to error), unlistable, and, when it found
// anything, alert "standing_access" and a one-line message.
func scanEvent(rep ScanReport) audit.Event {
	names := make([]string, len(rep.Resources))
	for i, rs := range rep.Resources {
		names[i] = rs.Resource
	}
	findings, errs := rep.Findings(), rep.Errors()
	data := audit.ScanCompletedData{
		Resources: names, Findings: len(findings), Errors: len(errs), Unlistable: rep.Unlistable,
	}
	if len(errs) > 0 {
		data.ErrorList = errs
	}
	if len(findings) > 0 {
		list := findings[:min(len(findings), maxEventFindings)]
		compact := make([]ScanFinding, len(list))
		for i, f := range list {
			f.Detail = clip(f.Detail, 200)
			compact[i] = f
		}
		data.List, data.Alert, data.Message = compact, ScanAlert, ScanSummary(findings)
	}
	return audit.Event{At: rep.At, Actor: rep.Actor}.With(data)
}

// ScanSummary says in one line what findings amount to: "2 holders on prod-db no grant
// explains: alice_admin, bob".
func ScanSummary(findings []ScanFinding) string {
	var resources []string
	accounts := map[string][]string{}
	for _, f := range findings {
		if _, ok := accounts[f.Resource]; !ok {
			resources = append(resources, f.Resource)
		}
		accounts[f.Resource] = append(accounts[f.Resource], f.Account)
	}
	holders := "1 holder"
	if len(findings) != 1 {
		holders = fmt.Sprintf("%d holders", len(findings))
	}
	var parts []string
	for _, r := range resources {
		parts = append(parts, r+": "+strings.Join(uniqueStrings(accounts[r]), ", "))
	}
	where := "on " + strings.Join(resources, ", ")
	if len(resources) > 3 {
		where = fmt.Sprintf("on %d resources", len(resources))
	}
	return clip(fmt.Sprintf("Standing access found: %s %s no grant explains (%s).", holders, where, strings.Join(parts, "; ")), 500)
}

// ScanEvent is what a scan.completed event says, decoded.
type ScanEvent struct {
	Resources  []string
	Findings   int
	List       []ScanFinding // at most 50; Findings is the total
	Errors     map[string]string
	Unlistable []string
}

// DecodeScanEvent reads a scan.completed event's data.
func DecodeScanEvent(e audit.Event) (ScanEvent, error) {
	p, err := audit.Decode[audit.ScanCompletedData](e)
	return ScanEvent{Resources: p.Resources, Findings: p.Findings, List: p.List, Errors: p.ErrorList, Unlistable: p.Unlistable}, err
}

func uniqueStrings(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// clip shortens s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// ErrScheduleTooOften is ScanSchedule's error for "@every" less than a minute.
var ErrScheduleTooOften = errors.New("too often: scan at most once a minute")

// ScanSchedule parses when scheduled scans run: a five-field cron spec ("0 * * * *"), a
// descriptor ("@hourly", "@daily"), or "@every <duration>" ("@every 30m", at least a minute).
// It is robfig/cron's standard parser, without seconds.
func ScanSchedule(spec string) (cron.Schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("empty schedule")
	}
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		return nil, errors.New("a time zone prefix is not supported here: the schedule uses the config's time_zone")
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, err
	}
	if every, ok := s.(cron.ConstantDelaySchedule); ok && every.Delay < time.Minute {
		return nil, fmt.Errorf("@every %s: %w", every.Delay, ErrScheduleTooOften)
	}
	return s, nil
}

// ScanRunner runs scans on a schedule, timed by the Service's clock.
type ScanRunner struct {
	sc    *Scanner
	sched cron.Schedule
	loc   *time.Location
	log   zerolog.Logger
	// ran is told after each scheduled scan (tests).
	ran func(ScanReport, error)
	// lock, when set, shares the schedule with the other replicas on the database.
	lock Locker
}

// NewScanRunner builds the runner of sc for a schedule (see ScanSchedule); cron fields are read
// in loc (the config's time zone; nil means UTC).
func NewScanRunner(sc *Scanner, spec string, loc *time.Location) (*ScanRunner, error) {
	sched, err := ScanSchedule(spec)
	if err != nil {
		return nil, fmt.Errorf("scan schedule %q: %w", spec, err)
	}
	if loc == nil {
		loc = time.UTC
	}
	return &ScanRunner{sc: sc, sched: sched, loc: loc, log: sc.log}, nil
}

// OnScan sets a function told of every scheduled scan's result.
func (r *ScanRunner) OnScan(fn func(ScanReport, error)) { r.ran = fn }

// UseLocker shares the schedule with the other replicas on the database: each firing scans once,
// in whichever replica fires first (see RunOnce; the job is "scan"). Without it every process
// scans, and alerts, at every firing.
func (r *ScanRunner) UseLocker(l Locker) { r.lock = l }

// RunScheduled does the scan of the firing at slot and reports whether this process did it:
// with a Locker, not when another replica is doing it or has done it.
func (r *ScanRunner) RunScheduled(ctx context.Context, slot time.Time) (rep ScanReport, ran bool, err error) {
	if r.lock == nil {
		rep, err = r.sc.Scan(ctx, System)
		return rep, true, err
	}
	ran, err = RunOnce(ctx, r.lock, "scan", slot, r.Next, func(ctx context.Context) error {
		var err error
		rep, err = r.sc.Scan(ctx, System)
		return err
	})
	return rep, ran, err
}

// Next returns when the next scheduled scan after t runs.
func (r *ScanRunner) Next(t time.Time) time.Time { return r.sched.Next(t.In(r.loc)) }

// Run scans at every time the schedule names until ctx is done. A scan that fails is logged and
// the schedule goes on.
func (r *ScanRunner) Run(ctx context.Context) error {
	schedule.Loop{Name: "scan", Clock: r.sc.svc.clock, Next: r.Next, Log: r.log}.Run(ctx, r.fire)
	return nil
}

// fire does the scan of the firing at slot, logs a failure and tells OnScan's function.
func (r *ScanRunner) fire(ctx context.Context, slot time.Time) {
	rep, ran, err := r.RunScheduled(ctx, slot)
	if err != nil && ctx.Err() == nil {
		r.log.Error().Err(err).Msg("scheduled standing-privilege scan failed")
	}
	if !ran && err == nil {
		r.log.Debug().Time("slot", slot).Msg("scheduled scan done by another replica")
		return
	}
	if r.ran != nil {
		r.ran(rep, err)
	}
}
