package bot

import (
	"context"
	"strings"

	"github.com/accessbot/accessbot/grants"
)

// PlatformDirectory returns base's directory extended with a platform's groups: base answers
// first, and for groups named with prefix (a platform's group syntax: "@handle",
// "discord-role:", "entra-group:") platform answers when base says no. base may be nil. An error
// of either is the answer, so that authorization fails closed.
func PlatformDirectory(base grants.Directory, prefix string, platform grants.Directory) grants.Directory {
	return platformDirectory{base: base, prefix: prefix, platform: platform}
}

type platformDirectory struct {
	base     grants.Directory
	prefix   string
	platform grants.Directory
}

func (d platformDirectory) MemberOf(ctx context.Context, a grants.Actor, group string) (bool, error) {
	if d.base != nil {
		ok, err := d.base.MemberOf(ctx, a, group)
		if err != nil || ok {
			return ok, err
		}
	}
	if !strings.HasPrefix(group, d.prefix) {
		return false, nil
	}
	return d.platform.MemberOf(ctx, a, group)
}
