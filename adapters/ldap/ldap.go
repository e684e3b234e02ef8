// Package ldap is the "ldap" adapter: a grant adds the person to one directory group, and
// revoking removes them. The group is a groupOfNames (member), a groupOfUniqueNames
// (uniqueMember) or a posixGroup (memberUid); for the first two the person's DN comes from a
// template or a search, with every value escaped for DNs (RFC 4514) or filters (RFC 4515) and
// accounts restricted to characters that need no escaping at all.
//
// Grants are counted on the group entry (holds.go): each grant records a hold beside the member,
// in the same atomic modify; a revoke removes its hold and the member only with the last hold,
// and a member put there by someone else (no holds) is never added or removed by accessbot
// (Holds reports it, so the request is answered that the person has the access already). Both
// directions are idempotent: granting twice and revoking what is gone succeed. groupOfNames and groupOfUniqueNames must keep at least one member; removing the last
// one fails with a permanent error that says so, unless placeholder_member names a DN to put in
// its place. Directories have no expiry for group membership, so access ends when accessbot
// revokes it.
//
// Each call opens its own connection, binds as the bot and closes it: there is no connection
// state to go stale between grants that may be hours apart.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
)

func init() {
	adapters.Register(adapters.Type{
		Name:      "ldap",
		Doc:       "adds the person to a directory group (member, uniqueMember or memberUid) and removes them on revoke",
		NewConfig: func() adapters.Config { return NewConfig() },
	})
}

// New builds the adapter. It reads the TLS files but does not contact the server.
func (c *Config) New(env adapters.Env) (adapters.Adapter, error) {
	l, err := New(*c, env.Log)
	if err != nil {
		return nil, err
	}
	l.resource = env.Resource
	return l, nil
}

// LDAP is the adapter. It is safe for concurrent use.
type LDAP struct {
	cfg Config
	// resource is the resource's name, which List uses to tell its grants from those of other
	// resources on the same group.
	resource string
	log      zerolog.Logger
	tls      *tls.Config
	attr     string
	userDN   *dnTemplate
	filter   *valueTemplate
	scope    int
}

// New returns an LDAP adapter for a validated config. It does not contact the server.
func New(cfg Config, log zerolog.Logger) (*LDAP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &LDAP{cfg: cfg, log: log, attr: memberAttributes[strings.ToLower(cfg.MemberAttribute)]}
	var err error
	if l.tls, err = cfg.tlsConfig(); err != nil {
		return nil, err
	}
	if cfg.UserDN != "" {
		if l.userDN, err = newDNTemplate(cfg.UserDN); err != nil {
			return nil, fmt.Errorf("user_dn: %w", err)
		}
	}
	if cfg.UserSearch != nil {
		if l.filter, err = newFilterTemplate(cfg.UserSearch.Filter); err != nil {
			return nil, fmt.Errorf("user_search: filter: %w", err)
		}
		l.scope, _ = cfg.UserSearch.scope()
	}
	return l, nil
}

// Grant adds the person to the group. A person who is a member already stays one.
func (l *LDAP) Grant(ctx context.Context, req adapters.GrantRequest) (adapters.Lease, error) {
	if err := checkAccount(req.Subject.Account); err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	conn, done, err := l.connect(ctx)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	defer done()
	value, err := l.memberValue(ctx, conn, req.Subject)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	standing, err := l.grantCounted(ctx, conn, req.GrantID, req.Resource, value)
	if err != nil {
		return adapters.Lease{}, fmt.Errorf("grant %s: %w", req.GrantID, err)
	}
	data := map[string]string{dataMember: value, dataGroup: l.cfg.GroupDN, dataCounted: "true"}
	if standing {
		// Approved while the person was a member already, not through accessbot: nothing was
		// added, and the revocation takes nothing away.
		data[dataPreexisting] = "true"
		l.log.Info().Str("grant_id", req.GrantID).Msg("ldap member was a member already; left alone")
		return adapters.Lease{Data: data}, nil
	}
	l.log.Debug().Str("grant_id", req.GrantID).Str("member", value).Msg("ldap member added")
	return adapters.Lease{Data: data}, nil
}

// Lease data keys.
const (
	dataMember = "member"
	dataGroup  = "group"
	// dataCounted marks a grant recorded as a hold on the group (holds.go); leases without it
	// were made before holds existed and are revoked by removing the member.
	dataCounted = "counted"
	// dataPreexisting marks a grant made while the person was a member already, not through
	// accessbot: its revocation changes nothing.
	dataPreexisting = "preexisting"
)

// Revoke removes this grant's hold on the person's membership, and the membership with the last
// hold. A membership without this grant's hold (standing, or never reached) is left alone.
func (l *LDAP) Revoke(ctx context.Context, req adapters.RevokeRequest) error {
	if req.Data[dataPreexisting] == "true" {
		return nil
	}
	legacy := req.Data != nil && req.Data[dataCounted] == ""
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	stored, storedErr := l.storedMember(req.Data[dataMember])
	accountErr := checkAccount(req.Subject.Account)
	if stored == "" && accountErr != nil {
		return fmt.Errorf("revoke %s: %w", req.GrantID, errors.Join(accountErr, storedErr))
	}
	conn, done, err := l.connect(ctx)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", req.GrantID, err)
	}
	defer done()

	var values []string
	if stored != "" {
		values = append(values, stored)
	}
	// The lease names the member as it was added; the subject names it as it would be added now.
	// Both go, so a template changed since the grant, or a lost lease, leaves nothing behind. A
	// search is only made without a lease: the person may have left the directory since.
	if accountErr == nil && (l.filter == nil || stored == "") {
		value, err := l.memberValue(ctx, conn, req.Subject)
		switch {
		case errors.Is(err, errNoSuchUser):
			// Nobody by that account exists to be a member; what the lease named is all there is.
			l.log.Warn().Str("grant_id", req.GrantID).Msg("ldap revoke: user search finds no entry for the account")
		case err != nil:
			return fmt.Errorf("revoke %s: %w", req.GrantID, err)
		case !l.sameMember(value, stored):
			values = append(values, value)
		}
	}
	for _, v := range values {
		if err := l.revokeCounted(ctx, conn, req.GrantID, v, legacy); err != nil {
			return fmt.Errorf("revoke %s: %w", req.GrantID, err)
		}
		l.log.Debug().Str("grant_id", req.GrantID).Str("member", v).Msg("ldap member removed")
	}
	if storedErr != nil {
		return fmt.Errorf("revoke %s: %w", req.GrantID, storedErr)
	}
	if g := req.Data[dataGroup]; g != "" && !sameDN(g, l.cfg.GroupDN) {
		// Lease data lives outside the directory; it may say where to look, never what to change.
		return adapters.Permanentf("revoke %s: removed from %s, but the grant was made in group %s, which the config no longer names; remove the member there by hand", req.GrantID, l.cfg.GroupDN, g)
	}
	return nil
}

// storedMember checks a member value from lease data, which is stored outside the directory, as
// strictly as one the adapter makes.
func (l *LDAP) storedMember(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if l.cfg.PlaceholderMember != "" && l.sameMember(v, l.cfg.PlaceholderMember) {
		return "", adapters.Permanentf("lease data names the placeholder member %s, which is never revoked", v)
	}
	if l.attr == attrMemberUID {
		if !accountPattern.MatchString(v) {
			return "", adapters.Permanentf("lease data names member %q, which is not an account name", v)
		}
		return v, nil
	}
	if _, err := goldap.ParseDN(v); err != nil {
		return "", adapters.Permanentf("lease data names member %q, which is not a DN", v)
	}
	return v, nil
}

// remove deletes one member value. Removing the last member of a group whose schema needs one
// puts the placeholder in its place in the same operation, or fails with a permanent error.
func (l *LDAP) remove(ctx context.Context, conn *goldap.Conn, value string) error {
	mod := goldap.NewModifyRequest(l.cfg.GroupDN, nil)
	mod.Delete(l.attr, []string{value})
	err := conn.Modify(mod)
	switch {
	case err == nil, goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchAttribute):
		return nil
	case goldap.IsErrorWithCode(err, goldap.LDAPResultObjectClassViolation):
		if l.cfg.PlaceholderMember == "" {
			return adapters.Permanentf("remove %s from %s: it is the last %s, and the group's object class requires one; set placeholder_member to a DN to keep in the group (%v)", value, l.cfg.GroupDN, l.attr, err)
		}
		swap := goldap.NewModifyRequest(l.cfg.GroupDN, nil)
		swap.Add(l.attr, []string{l.cfg.PlaceholderMember})
		swap.Delete(l.attr, []string{value})
		if err := conn.Modify(swap); err != nil {
			return fmt.Errorf("replace last %s %s of %s with the placeholder: %w", l.attr, value, l.cfg.GroupDN, classify(ctx, err))
		}
		return nil
	}
	return fmt.Errorf("remove %s %s from %s: %w", l.attr, value, l.cfg.GroupDN, classify(ctx, err))
}

// errNoSuchUser marks a search that found nobody.
var errNoSuchUser = errors.New("no entry matches the user search")

// memberValue returns the value that makes the subject a member: the account for memberUid, the
// person's DN otherwise.
func (l *LDAP) memberValue(ctx context.Context, conn *goldap.Conn, s adapters.Subject) (string, error) {
	if err := checkAccount(s.Account); err != nil {
		return "", err
	}
	switch {
	case l.attr == attrMemberUID:
		return s.Account, nil
	case l.userDN != nil:
		dn, err := l.userDN.dn(s)
		if err != nil {
			return "", adapters.PermanentError(err)
		}
		return dn, nil
	}
	filter, err := l.filter.render(s)
	if err != nil {
		return "", adapters.PermanentError(fmt.Errorf("user_search filter: %w", err))
	}
	// A size limit of 2 is enough to tell one match from several.
	res, err := conn.Search(goldap.NewSearchRequest(l.cfg.UserSearch.Base, l.scope, goldap.NeverDerefAliases,
		2, 0, false, filter, []string{"1.1"}, nil))
	if goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
		return "", adapters.Permanentf("user search %s under %s matches more than one entry", filter, l.cfg.UserSearch.Base)
	}
	if err != nil {
		return "", fmt.Errorf("search %s under %s: %w", filter, l.cfg.UserSearch.Base, classify(ctx, err))
	}
	switch len(res.Entries) {
	case 0:
		return "", adapters.PermanentError(fmt.Errorf("%w: %s under %s", errNoSuchUser, filter, l.cfg.UserSearch.Base))
	case 1:
		return res.Entries[0].DN, nil
	}
	return "", adapters.Permanentf("user search %s under %s matches more than one entry", filter, l.cfg.UserSearch.Base)
}

func checkAccount(account string) error {
	if !accountPattern.MatchString(account) {
		return adapters.Permanentf("account %q is not a valid directory account (letters, digits, _ . @ -, at most 128, not starting with . @ or -)", account)
	}
	return nil
}

func (l *LDAP) sameMember(a, b string) bool {
	if l.attr == attrMemberUID {
		return a == b
	}
	return sameDN(a, b)
}

// sameDN compares DNs as the directory does, without regard to case or spacing.
func sameDN(a, b string) bool {
	da, errA := goldap.ParseDN(a)
	db, errB := goldap.ParseDN(b)
	if errA != nil || errB != nil {
		return strings.EqualFold(a, b)
	}
	return da.EqualFold(db)
}

// List returns the group's members, whoever added them: a member accessbot did not add is
// standing access the scan should see. The placeholder is left out.
func (l *LDAP) List(ctx context.Context) ([]adapters.Access, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	conn, done, err := l.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", l.cfg.GroupDN, err)
	}
	defer done()
	st, err := l.readState(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", l.cfg.GroupDN, err)
	}
	out := make([]adapters.Access, 0, len(st.members))
	for _, v := range st.members {
		if l.cfg.PlaceholderMember != "" && l.sameMember(v, l.cfg.PlaceholderMember) {
			continue
		}
		a := adapters.Access{
			Account: l.accountOf(v),
			Detail:  fmt.Sprintf("%s of %s: %s", l.attr, l.cfg.GroupDN, v),
		}
		// A member held by this resource's grants is listed under the first; one held only by
		// other resources' grants (a group they share) is theirs to report; one without holds
		// is standing access.
		others := false
		for _, h := range st.holds {
			if !l.sameMember(h.Member, v) {
				continue
			}
			if h.Resource == "" || h.Resource == l.resource {
				a.GrantID = h.Grant
				break
			}
			others = true
		}
		if a.GrantID == "" && others {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// accountOf reads the account out of a member value: the value itself for memberUid, the
// template's account position for a DN of the template's shape, else the value of the DN's first
// RDN (uid=alice,... gives alice).
func (l *LDAP) accountOf(value string) string {
	if l.attr == attrMemberUID {
		return value
	}
	if l.userDN != nil {
		if account, ok := l.userDN.account(value); ok {
			return account
		}
	}
	dn, err := goldap.ParseDN(value)
	if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) != 1 {
		return value
	}
	return dn.RDNs[0].Attributes[0].Value
}

// Check binds as the bot and reads the group.
func (l *LDAP) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	conn, done, err := l.connect(ctx)
	if err != nil {
		return fmt.Errorf("check ldap: %w", err)
	}
	defer done()
	if _, err := l.readState(ctx, conn); err != nil {
		return fmt.Errorf("check ldap: %w", err)
	}
	return nil
}

// connect dials, sets up TLS, and binds as the bot. The connection is closed by the returned
// function, or as soon as ctx ends: go-ldap's calls take no context, and closing the connection
// is what ends a call in flight.
func (l *LDAP) connect(ctx context.Context) (*goldap.Conn, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, adapters.RetryableError(fmt.Errorf("connect to %s: %w", l.cfg.URL, err))
	}
	addr := l.cfg.hostPort()
	dialer := net.Dialer{Timeout: l.cfg.DialTimeout}
	raw, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, adapters.Retryablef("connect to %s: %w", l.cfg.URL, err)
	}
	isTLS := strings.HasPrefix(l.cfg.URL, "ldaps:")
	if isTLS {
		tc := tls.Client(raw, l.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, nil, fmt.Errorf("connect to %s: TLS: %w", l.cfg.URL, tlsError(err))
		}
		raw = tc
	}
	conn := goldap.NewConn(raw, isTLS)
	conn.Start()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetTimeout(time.Until(deadline))
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	done := func() {
		stop()
		conn.Close()
	}
	if l.cfg.StartTLS {
		if err := conn.StartTLS(l.tls); err != nil {
			done()
			// go-ldap formats the handshake's error with %v, so its type is lost; the text of
			// crypto/tls's verification error is what is left to tell a bad certificate from a
			// dropped connection.
			if strings.Contains(err.Error(), "tls: failed to verify certificate") {
				return nil, nil, fmt.Errorf("connect to %s: StartTLS: %w", l.cfg.URL, adapters.PermanentError(err))
			}
			return nil, nil, fmt.Errorf("connect to %s: StartTLS: %w", l.cfg.URL, classify(ctx, err))
		}
	}
	if err := conn.Bind(l.cfg.BindDN, string(l.cfg.BindPassword)); err != nil {
		done()
		return nil, nil, fmt.Errorf("bind as %s: %w", l.cfg.BindDN, classify(ctx, err))
	}
	return conn, done, nil
}

// tlsError says whether a failed handshake is the configuration's fault (a certificate that does
// not verify: permanent) or the network's (retryable).
func tlsError(err error) error {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return adapters.PermanentError(err)
	}
	return adapters.RetryableError(err)
}

// classify gives an LDAP error its kind. When ctx has ended, the error is whatever closing the
// connection caused, and the context's error says more.
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var kinded *adapters.Error
	if errors.As(err, &kinded) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return adapters.Retryablef("%w (%v)", ctxErr, err)
	}
	var le *goldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case goldap.ErrorNetwork, goldap.LDAPResultBusy, goldap.LDAPResultUnavailable,
			goldap.LDAPResultTimeLimitExceeded, goldap.LDAPResultAdminLimitExceeded, goldap.LDAPResultOther,
			goldap.LDAPResultTimeout:
			return adapters.RetryableError(err)
		}
		return adapters.PermanentError(err)
	}
	return adapters.RetryableError(err)
}

var (
	_ adapters.Adapter = (*LDAP)(nil)
	_ adapters.Lister  = (*LDAP)(nil)
	_ adapters.Checker = (*LDAP)(nil)
	_ adapters.Config  = (*Config)(nil)
)
