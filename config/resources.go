package config

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/rs/zerolog"

	"github.com/accessbot/accessbot/adapters"
	"github.com/accessbot/accessbot/grants"
)

// BuildOptions are what BuildResourcesWith gives every adapter besides its config block.
type BuildOptions struct {
	// Log is the parent of each adapter's logger.
	Log zerolog.Logger
	// PublicKeys is where adapters that sign people's SSH keys (sshcert) find the keys people
	// registered in chat: the store. The config's ssh_keys are always used after them (see
	// KeysFromConfig). Nil means the config's keys only.
	PublicKeys adapters.PublicKeySource
}

// BuildResources is BuildResourcesWith without a key store: adapters get the config's ssh_keys
// only.
func (c *Config) BuildResources(log zerolog.Logger) ([]*grants.Resource, error) {
	return c.BuildResourcesWith(BuildOptions{Log: log})
}

// BuildResourcesWith builds every resource's adapter (adapters.Config.New, which must not
// contact the target) and returns the resources with their effective policies. If any adapter
// fails to build, the ones already built are closed and the error is an *Errors naming each
// failure.
func (c *Config) BuildResourcesWith(o BuildOptions) ([]*grants.Resource, error) {
	log := o.Log
	keys := adapters.PublicKeySources(o.PublicKeys, c.KeysFromConfig())
	probs := &problems{file: c.file}
	out := make([]*grants.Resource, 0, len(c.Resources))
	for i := range c.Resources {
		rc := &c.Resources[i]
		env := adapters.Env{
			Resource:   rc.Name,
			Log:        log.With().Str("resource", rc.Name).Str("adapter", rc.Adapter.Type).Logger(),
			PublicKeys: keys,
		}
		a, err := rc.Adapter.Config.New(env)
		if err != nil {
			path := joinIndex("resources", i) + ".adapter"
			probs.add(c.lineOf(path), path, "build %s adapter: %v", rc.Adapter.Type, err)
			continue
		}
		p := rc.effective
		p.Requesters = slices.Clone(p.Requesters)
		p.RequesterGroups = slices.Clone(p.RequesterGroups)
		p.ApproverGroups = slices.Clone(p.ApproverGroups)
		out = append(out, &grants.Resource{
			Name:        rc.Name,
			Description: rc.Description,
			AdapterType: rc.Adapter.Type,
			Adapter:     a,
			Policy:      p,
			Account:     rc.account,
			Accounts:    maps.Clone(rc.Accounts),
			// Resources that share a target share account owners (grants.AccountOwner).
			AccountScope: rc.AccountScope,
			AccountFrom:  accountSource(rc.AccountFrom),
			StepUp:       grants.StepUp{Approve: rc.StepUp == StepUpOIDC},
		})
	}
	if err := probs.err(c.secrets); err != nil {
		var closeErrs []error
		for _, r := range out {
			if cl, ok := r.Adapter.(adapters.Closer); ok {
				closeErrs = append(closeErrs, cl.Close())
			}
		}
		return nil, errors.Join(append([]error{err}, closeErrs...)...)
	}
	return out, nil
}

func (c *Config) lineOf(path string) int { return lineIn(c.lines, path) }

// Matches reports whether a person-list entry from the config names the actor. An entry is an
// email or accessbot ID (compared case-insensitively), a bare platform user ID ("U0123"), or a
// platform-qualified one ("slack:U0123", "discord:81234"; the platform name in any case, the
// user ID exactly). It is grants.MatchesPerson: who counts as the same person is decided in one
// place, so the config's admins and groups name the same people as the domain's checks.
func Matches(a grants.Actor, entry string) bool { return grants.MatchesPerson(a, entry) }

// Directory returns the membership of config groups. Platform groups ("@handle",
// "discord-role:...") are never matched here; each platform answers for its own, and the
// wiring combines the directories.
func (c *Config) Directory() grants.Directory {
	return configDirectory{groups: c.Groups}
}

type configDirectory struct {
	groups map[string][]string
}

// MemberOf answers from the config alone; it never fails.
func (d configDirectory) MemberOf(_ context.Context, a grants.Actor, group string) (bool, error) {
	if IsPlatformGroup(group) {
		return false, nil
	}
	for _, m := range d.groups[group] {
		if grants.MatchesPerson(a, m) {
			return true, nil
		}
	}
	return false, nil
}

// IsAdmin reports whether the actor is an admin: named in admins.users, or a member of one of
// admins.groups according to dir (the combined directory; nil means the config's own). An
// error from dir is returned with false, so callers fail closed.
func (c *Config) IsAdmin(ctx context.Context, a grants.Actor, dir grants.Directory) (bool, error) {
	for _, u := range c.Admins.Users {
		if grants.MatchesPerson(a, u) {
			return true, nil
		}
	}
	if dir == nil {
		dir = c.Directory()
	}
	for _, g := range c.Admins.Groups {
		ok, err := dir.MemberOf(ctx, a, g)
		if err != nil {
			return false, fmt.Errorf("check admin group %s: %w", g, err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}
