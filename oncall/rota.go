package oncall

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/accessbot/accessbot/internal/ident"
)

// Providers, the first part of a rota group's name.
const (
	PagerDuty = "pagerduty"
	Opsgenie  = "opsgenie"
)

// Kinds of rota.
const (
	KindSchedule   = "schedule"
	KindEscalation = "escalation"
)

// Rota is an approver group that names an on-call rota:
//
//	pagerduty:schedule/<schedule ID>
//	pagerduty:escalation/<escalation policy ID>/level/<n>
//	opsgenie:schedule/<schedule name>
type Rota struct {
	Provider string
	Kind     string
	// ID is the PagerDuty schedule or escalation policy ID, or the Opsgenie schedule name.
	ID string
	// Level is the escalation level (from 1); 0 for a schedule.
	Level int
}

// String is the group name the rota was written as.
func (r Rota) String() string {
	if r.Kind == KindEscalation {
		return fmt.Sprintf("%s:%s/%s/level/%d", r.Provider, r.Kind, r.ID, r.Level)
	}
	return r.Provider + ":" + r.Kind + "/" + r.ID
}

// Target is what is fetched for the rota: the schedule or the whole escalation policy (every
// level at once), so that the levels of one policy share one fetch.
func (r Rota) Target() Target { return Target{Provider: r.Provider, Kind: r.Kind, ID: r.ID} }

// Target is a schedule or an escalation policy, as asked of a Provider.
type Target struct {
	Provider, Kind, ID string
}

// String names the target in messages: "pagerduty:schedule/PABC123".
func (t Target) String() string { return t.Provider + ":" + t.Kind + "/" + t.ID }

// IsRotaGroup reports whether a group name is meant as a rota (it starts with a provider's
// name and a colon), whether or not the rest is well formed: ParseRota says that.
func IsRotaGroup(name string) bool {
	return strings.HasPrefix(name, PagerDuty+":") || strings.HasPrefix(name, Opsgenie+":")
}

var (
	// PagerDuty IDs are upper-case letters and digits (PABC123).
	pagerDutyIDRE = ident.New(`^[A-Z0-9]{2,20}$`, `^[A-Z0-9]+$`, 2, 20)
	// Opsgenie schedule names: letters, digits, space, '_', '-' and '.', as its UI allows.
	opsgenieNameRE = ident.New(`^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,99}$`, `^[A-Za-z0-9][A-Za-z0-9 _.\-]*$`, 1, 100)
)

// ParseRota reads a rota group name; the error says in a sentence what is wrong and what
// would be right.
func ParseRota(name string) (Rota, error) {
	provider, rest, _ := strings.Cut(name, ":")
	switch provider {
	case PagerDuty:
		return parsePagerDuty(name, rest)
	case Opsgenie:
		id, ok := strings.CutPrefix(rest, KindSchedule+"/")
		if !ok || !opsgenieNameRE.MatchString(id) {
			return Rota{}, fmt.Errorf("%q is not an Opsgenie rota: write opsgenie:schedule/<schedule name>", name)
		}
		return Rota{Provider: Opsgenie, Kind: KindSchedule, ID: id}, nil
	}
	return Rota{}, fmt.Errorf("%q is not a rota: write pagerduty:schedule/<ID>, pagerduty:escalation/<ID>/level/<n> or opsgenie:schedule/<name>", name)
}

func parsePagerDuty(name, rest string) (Rota, error) {
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[0] == KindSchedule && pagerDutyIDRE.MatchString(parts[1]):
		return Rota{Provider: PagerDuty, Kind: KindSchedule, ID: parts[1]}, nil
	case len(parts) == 4 && parts[0] == KindEscalation && pagerDutyIDRE.MatchString(parts[1]) && parts[2] == "level":
		n, err := strconv.Atoi(parts[3])
		if err != nil || n < 1 || n > 20 || strconv.Itoa(n) != parts[3] {
			return Rota{}, fmt.Errorf("%q: the escalation level must be a number from 1, e.g. pagerduty:escalation/%s/level/1", name, parts[1])
		}
		return Rota{Provider: PagerDuty, Kind: KindEscalation, ID: parts[1], Level: n}, nil
	}
	return Rota{}, fmt.Errorf("%q is not a PagerDuty rota: write pagerduty:schedule/<ID> or pagerduty:escalation/<ID>/level/<n> (IDs are like PABC123)", name)
}
