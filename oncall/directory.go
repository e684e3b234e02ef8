package oncall

import (
	"context"
	"fmt"
	"strings"

	"github.com/accessbot/accessbot/grants"
)

// Directory is the rota layer in front of the other directories: a group that names a rota
// (IsRotaGroup) has as members the people on call now; every other group is asked of inner.
// A rota that cannot be asked answers with its error (the Service then looks at the other
// approver groups, and refuses only when none of them has the person).
type Directory struct {
	inner grants.Directory
	rotas *Rotas
}

// NewDirectory puts rotas in front of inner.
func NewDirectory(inner grants.Directory, rotas *Rotas) *Directory {
	return &Directory{inner: inner, rotas: rotas}
}

// MemberOf implements grants.Directory: the person is on call now for the rota.
func (d *Directory) MemberOf(ctx context.Context, a grants.Actor, group string) (bool, error) {
	if !IsRotaGroup(group) {
		return d.inner.MemberOf(ctx, a, group)
	}
	r, err := ParseRota(group)
	if err != nil {
		return false, err
	}
	shifts, err := d.rotas.OnCall(ctx, r)
	if err != nil {
		return false, err
	}
	_, ok := find(shifts, a)
	return ok, nil
}

// MemberForRequest implements grants.RequestDirectory: for deciding a request, the people on
// call at a rota's level count, less the requester, and when the requester is on call at an
// escalation level, the people at the next level count too. Via records who was on call.
func (d *Directory) MemberForRequest(ctx context.Context, a grants.Actor, group string, q grants.MembershipQuery) (grants.Membership, error) {
	if !IsRotaGroup(group) {
		ok, err := d.inner.MemberOf(ctx, a, group)
		return grants.Membership{Member: ok}, err
	}
	r, err := ParseRota(group)
	if err != nil {
		return grants.Membership{}, err
	}
	people, next, err := d.rotas.ForRequest(ctx, r, q.Requester)
	if err != nil {
		return grants.Membership{}, err
	}
	sh, ok := find(people, a)
	if !ok {
		return grants.Membership{}, nil
	}
	via := fmt.Sprintf("on call for %s: %s", r, emails(people))
	if next && sh.Level == r.Level+1 {
		via = fmt.Sprintf("on call at level %d of %s, asked because the requester is on call at level %d: %s",
			r.Level+1, r.Target(), r.Level, emails(people))
	}
	return grants.Membership{Member: true, Via: via}, nil
}

// find returns the shift that is the actor (matched by email, case-folded, as config members).
func find(shifts []Shift, a grants.Actor) (Shift, bool) {
	for _, sh := range shifts {
		if sh.Email != "" && grants.MatchesPerson(a, sh.Email) {
			return sh, true
		}
	}
	return Shift{}, false
}

func emails(shifts []Shift) string {
	out := make([]string, len(shifts))
	for i, sh := range shifts {
		out[i] = sh.PersonID()
	}
	return strings.Join(out, ", ")
}

var (
	_ grants.Directory        = (*Directory)(nil)
	_ grants.RequestDirectory = (*Directory)(nil)
)
