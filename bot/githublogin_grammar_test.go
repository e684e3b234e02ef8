package bot_test

import (
	"errors"
	"testing"

	"github.com/accessbot/accessbot/bot"
)

func TestGitHubLoginParsesALoginRemoveOrNothingAndRefusesTheRest(t *testing.T) {
	for _, tc := range []struct {
		text, sub, key string
		bad            bool
	}{
		{text: "github-login"},
		{text: "github-login octo-cat", key: "octo-cat"},
		{text: "GitHub-Login @Octo-Cat", key: "Octo-Cat"},
		{text: "github_login REMOVE", sub: bot.GitHubLoginRemove},
		{text: "github-login octo cat", bad: true},
		{text: "github-login -octocat", bad: true},
		{text: "github-login octo--cat!", bad: true},
		{text: "github-login a123456789012345678901234567890123456789", bad: true},
	} {
		t.Run(tc.text, func(t *testing.T) {
			c, err := bot.Parse(tc.text)
			if tc.bad {
				var pe *bot.ParseError
				if !errors.As(err, &pe) || pe.Verb != bot.VerbGitHubLogin {
					t.Errorf("Parse = %+v, %v; want a github-login parse error", c, err)
				}
				return
			}
			if err != nil || c.Name != bot.VerbGitHubLogin || c.Sub != tc.sub || c.Key != tc.key {
				t.Errorf("Parse = %+v, %v; want sub %q key %q", c, err, tc.sub, tc.key)
			}
		})
	}
}
