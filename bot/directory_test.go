package bot_test

import (
	"context"
	"errors"
	"testing"

	"github.com/accessbot/accessbot/bot"
	"github.com/accessbot/accessbot/grants"
)

// groupsOf is a grants.Directory of fixed groups that counts its questions; err, when set, is
// its answer to every one.
type groupsOf struct {
	groups map[string]bool
	err    error
	asked  int
}

func (g *groupsOf) MemberOf(_ context.Context, _ grants.Actor, group string) (bool, error) {
	g.asked++
	return g.groups[group], g.err
}

func TestPlatformDirectory(t *testing.T) {
	errDown := errors.New("directory down")
	for _, tt := range []struct {
		name          string
		base          *groupsOf
		group         string
		want          bool
		wantErr       error
		platformAsked int
	}{
		{name: "the base answers yes without the platform", base: &groupsOf{groups: map[string]bool{"@ops": true}}, group: "@ops", want: true},
		{name: "the platform answers a prefixed group the base does not have", base: &groupsOf{}, group: "@sre", want: true, platformAsked: 1},
		{name: "a group without the prefix is not the platform's", base: &groupsOf{}, group: "sre", platformAsked: 0},
		{name: "an error of the base is the answer", base: &groupsOf{err: errDown}, group: "@sre", wantErr: errDown},
		{name: "no base: the platform alone", group: "@sre", want: true, platformAsked: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			platform := &groupsOf{groups: map[string]bool{"@sre": true}}
			var base grants.Directory
			if tt.base != nil {
				base = tt.base
			}
			got, err := bot.PlatformDirectory(base, "@", platform).MemberOf(context.Background(), grants.Actor{ID: "ana@example.com"}, tt.group)
			if got != tt.want || !errors.Is(err, tt.wantErr) || platform.asked != tt.platformAsked {
				t.Errorf("MemberOf(%q) = %v, %v (platform asked %d times), want %v, %v (%d)", tt.group, got, err, platform.asked, tt.want, tt.wantErr, tt.platformAsked)
			}
		})
	}
}
