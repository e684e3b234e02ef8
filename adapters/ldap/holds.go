package ldap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/accessbot/accessbot/adapters"
)

// Who holds a membership through which grant is written on the group entry itself, as values of
// its description attribute (which groupOfNames, groupOfUniqueNames and posixGroup all allow),
// in the same modify operation as the membership, which the directory applies atomically: so a
// crash between the directory and accessbot's own database loses nothing, and two resources
// that share a group count each other's grants.
//
//   - "accessbot-grant {"grant":"<grant ID>","member":"<member value>"}": the member holds the
//     membership through this grant. A member is removed only with the last of their holds.
//   - "accessbot-version <n>": a counter every change of the adapter deletes and adds back
//     increased, in the same operation. Deleting a value that is gone fails, so two changes made
//     from the same reading cannot both apply: the second reads again and retries.
//
// A member without holds was put there by someone else: accessbot neither adds nor removes them
// (Holds reports it, and the scan lists it as standing access).
const (
	holdsAttribute = "description"
	holdTag        = "accessbot-grant "
	versionTag     = "accessbot-version "
	// casAttempts bounds the re-reads when another change wins the race.
	casAttempts = 8
)

// hold is one grant's claim on one member value.
type hold struct {
	Grant  string `json:"grant"`
	Member string `json:"member"`
	// Resource is the resource whose grant it is: the scan of each resource that shares the
	// group reports its own grants.
	Resource string `json:"resource,omitempty"`
}

func (h hold) value() string {
	b, _ := json.Marshal(h) // two strings always encode
	return holdTag + string(b)
}

// groupState is what one reading of the group says.
type groupState struct {
	members []string
	holds   []hold
	// rawHolds are the holds' values as stored, for deletion.
	rawHolds []string
	// version is the counter's value as stored; empty when there is none yet.
	version string
}

func (l *LDAP) readState(ctx context.Context, conn *goldap.Conn) (groupState, error) {
	res, err := conn.Search(goldap.NewSearchRequest(l.cfg.GroupDN, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{l.attr, holdsAttribute}, nil))
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return groupState{}, adapters.Permanentf("group %s does not exist, or the bot may not read it (%v)", l.cfg.GroupDN, err)
	}
	if err != nil {
		return groupState{}, fmt.Errorf("read group %s: %w", l.cfg.GroupDN, classify(ctx, err))
	}
	if len(res.Entries) != 1 {
		return groupState{}, adapters.Permanentf("group %s does not exist, or the bot may not read it", l.cfg.GroupDN)
	}
	e := res.Entries[0]
	st := groupState{members: e.GetAttributeValues(l.attr)}
	for _, v := range e.GetAttributeValues(holdsAttribute) {
		switch {
		case strings.HasPrefix(v, holdTag):
			var h hold
			if json.Unmarshal([]byte(strings.TrimPrefix(v, holdTag)), &h) == nil && h.Grant != "" && h.Member != "" {
				st.holds = append(st.holds, h)
				st.rawHolds = append(st.rawHolds, v)
			}
		case strings.HasPrefix(v, versionTag):
			st.version = v
		}
	}
	return st, nil
}

func (st groupState) isMember(l *LDAP, value string) bool {
	for _, m := range st.members {
		if l.sameMember(m, value) {
			return true
		}
	}
	return false
}

// holdsOf returns the raw values of the holds on value, and whether grantID is among them.
func (st groupState) holdsOf(l *LDAP, value, grantID string) (raw []string, mine string) {
	for i, h := range st.holds {
		if !l.sameMember(h.Member, value) {
			continue
		}
		if h.Grant == grantID {
			mine = st.rawHolds[i]
		} else {
			raw = append(raw, st.rawHolds[i])
		}
	}
	return raw, mine
}

// change starts a modify that applies only if nobody changed the group's holds since st was read.
func (l *LDAP) change(st groupState) *goldap.ModifyRequest {
	mod := goldap.NewModifyRequest(l.cfg.GroupDN, nil)
	n := int64(0)
	if st.version != "" {
		mod.Delete(holdsAttribute, []string{st.version})
		n, _ = strconv.ParseInt(strings.TrimPrefix(st.version, versionTag), 10, 64)
	}
	mod.Add(holdsAttribute, []string{versionTag + strconv.FormatInt(n+1, 10)})
	return mod
}

// lostRace says whether a modify failed because another change came first.
func lostRace(err error) bool {
	return goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchAttribute) ||
		goldap.IsErrorWithCode(err, goldap.LDAPResultAttributeOrValueExists)
}

// grantCounted adds the member and this grant's hold, unless the member is there without any
// hold (standing access, left alone). It reports whether the membership was standing.
func (l *LDAP) grantCounted(ctx context.Context, conn *goldap.Conn, grantID, resource, value string) (standing bool, err error) {
	for range casAttempts {
		st, err := l.readState(ctx, conn)
		if err != nil {
			return false, err
		}
		others, mine := st.holdsOf(l, value, grantID)
		member := st.isMember(l, value)
		switch {
		case mine != "" && member:
			return false, nil // granted already
		case mine == "" && member && len(others) == 0:
			return true, nil
		}
		mod := l.change(st)
		if mine == "" {
			mod.Add(holdsAttribute, []string{hold{Grant: grantID, Member: value, Resource: resource}.value()})
		}
		if !member {
			mod.Add(l.attr, []string{value})
		}
		err = conn.Modify(mod)
		if err == nil {
			return false, nil
		}
		if !lostRace(err) {
			return false, fmt.Errorf("add %s %s and its hold to %s: %w", l.attr, value, l.cfg.GroupDN, classify(ctx, err))
		}
	}
	return false, adapters.Retryablef("add %s %s to %s: other changes kept winning the race", l.attr, value, l.cfg.GroupDN)
}

// revokeCounted removes this grant's hold on value, and the member with the last hold. A member
// without this grant's hold is left alone: either the grant never reached the directory, or the
// membership was standing. Only a lease from before holds existed (legacy) still removes a
// member without a hold, as such grants did.
func (l *LDAP) revokeCounted(ctx context.Context, conn *goldap.Conn, grantID, value string, legacy bool) error {
	for range casAttempts {
		st, err := l.readState(ctx, conn)
		if err != nil {
			return err
		}
		others, mine := st.holdsOf(l, value, grantID)
		if mine == "" {
			if legacy {
				return l.remove(ctx, conn, value)
			}
			return nil
		}
		last := len(others) == 0 && st.isMember(l, value)
		err = conn.Modify(l.revokeChange(st, mine, value, last, false))
		if err != nil && last && goldap.IsErrorWithCode(err, goldap.LDAPResultObjectClassViolation) {
			if l.cfg.PlaceholderMember == "" {
				return adapters.Permanentf("remove %s from %s: it is the last %s, and the group's object class requires one; set placeholder_member to a DN to keep in the group (%v)", value, l.cfg.GroupDN, l.attr, err)
			}
			err = conn.Modify(l.revokeChange(st, mine, value, last, true))
		}
		if err == nil {
			return nil
		}
		if !lostRace(err) {
			return fmt.Errorf("remove %s %s and its hold from %s: %w", l.attr, value, l.cfg.GroupDN, classify(ctx, err))
		}
	}
	return adapters.Retryablef("remove %s %s from %s: other changes kept winning the race", l.attr, value, l.cfg.GroupDN)
}

func (l *LDAP) revokeChange(st groupState, mine, value string, last, placeholder bool) *goldap.ModifyRequest {
	mod := l.change(st)
	mod.Delete(holdsAttribute, []string{mine})
	if last {
		if placeholder {
			mod.Add(l.attr, []string{l.cfg.PlaceholderMember})
		}
		mod.Delete(l.attr, []string{value})
	}
	return mod
}

// Holds says whether the person is a member of the group without any grant of accessbot's
// holding the membership: standing access, which a grant would not add and must not remove.
func (l *LDAP) Holds(ctx context.Context, s adapters.Subject) (bool, error) {
	if checkAccount(s.Account) != nil {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	conn, done, err := l.connect(ctx)
	if err != nil {
		return false, fmt.Errorf("check standing membership in %s: %w", l.cfg.GroupDN, err)
	}
	defer done()
	value, err := l.memberValue(ctx, conn, s)
	if errors.Is(err, errNoSuchUser) {
		return false, nil // nobody to be a member; the grant will say so
	}
	if err != nil {
		return false, fmt.Errorf("check standing membership in %s: %w", l.cfg.GroupDN, err)
	}
	st, err := l.readState(ctx, conn)
	if err != nil {
		return false, fmt.Errorf("check standing membership in %s: %w", l.cfg.GroupDN, err)
	}
	others, _ := st.holdsOf(l, value, "")
	return st.isMember(l, value) && len(others) == 0, nil
}

var _ adapters.Holder = (*LDAP)(nil)
