package redis

import (
	"fmt"
	"regexp"
	"strings"
)

// The grammar of the ACL rules a config may give a temporary user. It admits what says what the
// user may touch (keys, channels, commands) and nothing that says how the user logs in: the
// adapter alone sets "on" and the random password, so a rule must never add a password, remove
// it (nopass, resetpass), switch the user off or reset what the adapter set.
var (
	categoryRule = regexp.MustCompile(`^[+-]@[a-z][a-z0-9_-]*$`)
	// A command, optionally with a subcommand or first argument (config|get, select|0). Module
	// commands carry dots (json.get).
	commandRule = regexp.MustCompile(`^[+-][a-z][a-z0-9_.-]*(\|[a-z0-9_.-]+)?$`)
	// Key patterns (~, %R~, %W~, %RW~) and channel patterns (&): printable ASCII without spaces,
	// which is all a glob pattern needs. The grammar is ^(~|%(R|W|RW|WR)~|&)[\x21-\x7e]{1,256}$;
	// isPatternRule bounds the glob's length, which this expression leaves uncounted
	// (internal/ident says why).
	patternRuleUncounted = regexp.MustCompile(`^(~|%(R|W|RW|WR)~|&)[\x21-\x7e]+$`)
)

// keywordRules are the rules without arguments that only narrow or widen what may be touched.
var keywordRules = map[string]bool{
	"allkeys":          true,
	"allchannels":      true,
	"allcommands":      true,
	"nocommands":       true,
	"resetkeys":        true,
	"resetchannels":    true,
	"sanitize-payload": true,
}

// refusedKeywords explain why a rule that Redis knows is not allowed from config.
var refusedKeywords = map[string]string{
	"nopass":                "would let anyone log in as the user without a password",
	"resetpass":             "would remove the password the adapter sets",
	"on":                    "is set by the adapter",
	"off":                   "is set by the adapter",
	"reset":                 "would undo the password and state the adapter sets",
	"clearselectors":        "selectors are not supported",
	"skip-sanitize-payload": "would let the user RESTORE unchecked payloads",
}

// checkRule says whether rule may be given to a temporary user. Its errors never quote the rule:
// a rule that was meant to be a password must not end up in a log line.
func checkRule(rule string) error {
	if rule == "" {
		return fmt.Errorf("is empty")
	}
	for _, r := range rule {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("contains a space, line break or control character; give one rule per list item")
		}
		if r > 0x7e {
			return fmt.Errorf("contains a character outside printable ASCII")
		}
	}
	// Redis reads keywords and command names without regard to case.
	lower := strings.ToLower(rule)
	if why, refused := refusedKeywords[lower]; refused {
		return fmt.Errorf("%s %s", lower, why)
	}
	if keywordRules[lower] {
		return nil
	}
	switch rule[0] {
	case '>', '<':
		return fmt.Errorf("sets or removes a password; the adapter makes a random password for each grant, and passwords never come from config")
	case '#', '!':
		return fmt.Errorf("sets or removes a password hash; the adapter makes a random password for each grant, and passwords never come from config")
	case '(':
		return fmt.Errorf("is a selector; selectors are not supported")
	case '~', '&', '%':
		if isPatternRule(rule) {
			return nil
		}
		return fmt.Errorf("is not a key pattern (~pattern, %%R~pattern, %%W~pattern, %%RW~pattern) or channel pattern (&pattern)")
	case '+', '-':
		if categoryRule.MatchString(lower) || commandRule.MatchString(lower) {
			return nil
		}
		return fmt.Errorf("is not +@category, -@category, +command, -command or +command|subcommand")
	}
	return fmt.Errorf("is not an allowed rule (key, channel and command rules, allkeys, allchannels, allcommands, nocommands, resetkeys, resetchannels)")
}

// checkRules checks every rule and names the first bad one by its position.
func checkRules(rules []string) error {
	if len(rules) == 0 {
		return fmt.Errorf("rules is required: without rules a temporary user may run no command")
	}
	for i, r := range rules {
		if err := checkRule(r); err != nil {
			return fmt.Errorf("rules[%d] %w", i, err)
		}
	}
	return nil
}

// isPatternRule reports whether rule is a key or channel pattern with a glob of 1 to 256
// characters. The prefix is one character (~, &) or runs to the first '~' (%R~, %RW~): the glob
// comes after it.
func isPatternRule(rule string) bool {
	if !patternRuleUncounted.MatchString(rule) {
		return false
	}
	prefix := 1
	if rule[0] == '%' {
		prefix = strings.IndexByte(rule, '~') + 1
	}
	return len(rule)-prefix <= 256
}
