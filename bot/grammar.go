package bot

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/accessbot/accessbot/internal/duration"
	"github.com/accessbot/accessbot/internal/ident"
	"github.com/accessbot/accessbot/internal/suggest"
)

// Verbs of `/access`, as people type them.
const (
	VerbRequest    = "request"
	VerbList       = "list"
	VerbResources  = "resources"
	VerbStatus     = "status"
	VerbRevoke     = "revoke"
	VerbExtend     = "extend"
	VerbCancel     = "cancel"
	VerbBreakGlass = "breakglass"
	VerbSSHKey     = "ssh-key"
	// VerbGitHubLogin links the person's GitHub login, verified by GitHub (githublogin.go).
	VerbGitHubLogin = GitHubLoginSource
	VerbHelp        = "help"
)

// Verbs lists every verb in the order help shows them.
var Verbs = []string{VerbRequest, VerbList, VerbResources, VerbStatus, VerbRevoke, VerbExtend,
	VerbCancel, VerbBreakGlass, VerbSSHKey, VerbGitHubLogin, VerbHelp}

// Command is one parsed `/access` command.
type Command struct {
	// Name is one of the Verb* constants.
	Name string
	// Resource is the resource asked for (request, breakglass), lowercased.
	Resource string
	// Duration is how long (request, breakglass, extend).
	Duration time.Duration
	// Reason is the rest of the line after the duration, trimmed, without enclosing quotes.
	Reason string
	// ID is the request or grant ID (status, revoke, extend, cancel), lowercased.
	ID string
	// Form is true for `/access request` without arguments: open the request form.
	Form bool
	// Unknown is the verb that was not understood (Name is then help), and Closest the known
	// verb nearest to it, if any is close.
	Unknown, Closest string
	// Topic is the verb `/access help <verb>` asks about.
	Topic string
	// Sub is what `/access ssh-key` does: SSHKeyAdd, SSHKeyList or SSHKeyRemove.
	Sub string
	// Key is, for ssh-key add, the key as pasted (the rest of the line, trimmed; ParseSSHKey
	// reads it); for ssh-key remove, the fingerprint ("SHA256:..."), normalized.
	Key string
}

// Examples of each command, used in help and in errors.
var examples = map[string]string{
	VerbRequest:     "/access request prod-db 1h INC-42 fixing the index",
	VerbList:        "/access list",
	VerbResources:   "/access resources",
	VerbStatus:      "/access status r-abc123",
	VerbRevoke:      "/access revoke g-abc123",
	VerbExtend:      "/access extend g-abc123 30m still fixing INC-42",
	VerbCancel:      "/access cancel r-abc123",
	VerbBreakGlass:  "/access breakglass prod-db 30m INC-99 site down",
	VerbSSHKey:      "/access ssh-key add ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… you@laptop",
	VerbGitHubLogin: "/access github-login octocat",
	VerbHelp:        "/access help",
}

// Examples of the other ssh-key sub-commands (VerbSSHKey's is add).
const (
	exampleSSHKeyList   = "/access ssh-key list"
	exampleSSHKeyRemove = "/access ssh-key remove SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
)

// Example returns an example of the verb's use ("/access request prod-db 1h INC-42 ...").
func Example(verb string) string { return examples[verb] }

// ParseError says what is wrong with a command, in a sentence for the person who typed it.
type ParseError struct {
	// Verb is the command being parsed ("" when the verb itself is the problem).
	Verb    string
	Message string
}

func (e *ParseError) Error() string { return e.Message }

func parseErrorf(verb, format string, args ...any) *ParseError {
	return &ParseError{Verb: verb, Message: fmt.Sprintf(format, args...)}
}

// idPattern is what request and grant IDs look like: grants.RandomID makes "r-" or "g-" and
// base32; tests and imports may use other short names, so any short token of these characters
// is accepted and the Service says whether it exists.
var idPattern = ident.New(`^[a-z0-9][a-z0-9_.-]{0,63}$`, `^[a-z0-9][a-z0-9_.-]*$`, 1, 64)

// namePattern is what resource names look like (config validates the same).
var namePattern = ident.New(`^[a-z0-9][a-z0-9_.-]{0,62}$`, `^[a-z0-9][a-z0-9_.-]*$`, 1, 63)

// maxText bounds what Parse reads: a chat command is short, and a reason is kept in the audit
// log for years.
const maxText = 4000

// maxSSHKeyText bounds `/access ssh-key`, whose key is checked by ParseSSHKey: it is larger
// than maxText so that a pasted private key, however long, gets the warning it deserves.
const maxSSHKeyText = 64 << 10

// Parse reads the text after `/access`. It never panics. An unknown verb is not an error: it
// parses as help with the verb in Unknown and the closest known verb in Closest.
func Parse(text string) (Command, error) {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	tooLong := func() error {
		return parseErrorf("", "That command is too long: keep it under %d characters.", maxText)
	}
	if len(text) > maxSSHKeyText {
		return Command{}, tooLong()
	}
	verb, rest := nextWord(text)
	verb = strings.ToLower(unquote(verb))
	verb = strings.TrimPrefix(verb, "/access") // people paste the whole line
	if verb == "" {
		if verb, rest = nextWord(rest); verb == "" {
			return Command{Name: VerbHelp}, nil
		}
		verb = strings.ToLower(unquote(verb))
	}
	switch verb {
	case "break-glass", "break_glass":
		verb = VerbBreakGlass
	case "ls":
		verb = VerbList
	case "?", "-h", "--help":
		verb = VerbHelp
	case "ssh-keys", "sshkey", "sshkeys", "ssh_key", "ssh_keys":
		verb = VerbSSHKey
	case "githublogin", "github_login", "github":
		verb = VerbGitHubLogin
	}
	if len(text) > maxText && verb != VerbSSHKey {
		return Command{}, tooLong()
	}
	switch verb {
	case VerbRequest, VerbBreakGlass:
		return parseAsk(verb, rest)
	case VerbList, VerbResources:
		return Command{Name: verb}, nil
	case VerbHelp:
		c := Command{Name: VerbHelp}
		if topic, _ := nextWord(rest); topic != "" {
			if t := strings.ToLower(unquote(topic)); examples[t] != "" {
				c.Topic = t
			}
		}
		return c, nil
	case VerbStatus, VerbRevoke, VerbCancel:
		id, _, err := parseID(verb, rest)
		if err != nil {
			return Command{}, err
		}
		return Command{Name: verb, ID: id}, nil
	case VerbExtend:
		return parseExtend(rest)
	case VerbSSHKey:
		return parseSSHKeyCommand(rest)
	case VerbGitHubLogin:
		return parseGitHubLoginCommand(rest)
	}
	return Command{Name: VerbHelp, Unknown: verb, Closest: closestVerb(verb)}, nil
}

// parseSSHKeyCommand reads `/access ssh-key add <key...> | list | remove <fingerprint>`; alone,
// `/access ssh-key` lists. A key pasted without "add" is added.
func parseSSHKeyCommand(rest string) (Command, error) {
	word, after := nextWord(rest)
	sub := strings.ToLower(unquote(word))
	switch sub {
	case "", "list", "ls":
		return Command{Name: VerbSSHKey, Sub: SSHKeyList}, nil
	case "add":
		key := strings.TrimSpace(after)
		if key == "" {
			return Command{}, parseErrorf(VerbSSHKey, "`/access ssh-key add` needs your public key, the one line of your .pub file (e.g. ~/.ssh/id_ed25519.pub): `%s`", examples[VerbSSHKey])
		}
		return Command{Name: VerbSSHKey, Sub: SSHKeyAdd, Key: key}, nil
	case "remove", "rm", "delete", "del":
		tok, _ := nextWord(after)
		if tok == "" {
			return Command{}, parseErrorf(VerbSSHKey, "`/access ssh-key remove` needs the key's fingerprint, e.g. `%s` (`%s` shows yours)", exampleSSHKeyRemove, exampleSSHKeyList)
		}
		fp, ok := NormalizeFingerprint(tok)
		if !ok {
			// Not quoted: whatever was typed there could be a secret pasted in the wrong place.
			return Command{}, parseErrorf(VerbSSHKey, "That is not a key fingerprint: use the SHA256:… that `%s` shows, e.g. `%s`", exampleSSHKeyList, exampleSSHKeyRemove)
		}
		return Command{Name: VerbSSHKey, Sub: SSHKeyRemove, Key: fp}, nil
	}
	if looksLikeKey(word) || strings.Contains(rest, "PRIVATE KEY") {
		// "add" forgotten: the key is what follows the verb.
		return Command{Name: VerbSSHKey, Sub: SSHKeyAdd, Key: strings.TrimSpace(rest)}, nil
	}
	return Command{}, parseErrorf(VerbSSHKey, "`/access ssh-key` is followed by add, list or remove, e.g. `%s`", examples[VerbSSHKey])
}

// looksLikeKey reports whether a word starts an authorized_keys line.
func looksLikeKey(word string) bool {
	w := strings.TrimLeft(word, "`\"'")
	for _, p := range []string{"ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-"} {
		if strings.HasPrefix(w, p) {
			return true
		}
	}
	return false
}

func parseAsk(verb, rest string) (Command, error) {
	usage := func() *ParseError {
		what := "a resource, a duration and a reason"
		return parseErrorf(verb, "`/access %s` needs %s, e.g. `%s`", verb, what, examples[verb])
	}
	c := Command{Name: verb}
	res, rest := nextWord(rest)
	if res == "" {
		if verb == VerbRequest {
			c.Form = true
			return c, nil
		}
		return Command{}, usage()
	}
	c.Resource = strings.ToLower(unquote(res))
	if !namePattern.MatchString(c.Resource) {
		return Command{}, parseErrorf(verb, "%q is not a resource name (see `/access resources`), e.g. `%s`", c.Resource, examples[verb])
	}
	dur, rest := nextWord(rest)
	if dur == "" {
		return Command{}, usage()
	}
	d, err := parseDuration(verb, dur)
	if err != nil {
		return Command{}, err
	}
	c.Duration = d
	c.Reason = cleanReason(rest)
	return c, nil
}

func parseExtend(rest string) (Command, error) {
	id, rest, err := parseID(VerbExtend, rest)
	if err != nil {
		return Command{}, err
	}
	dur, rest := nextWord(rest)
	if dur == "" {
		return Command{}, parseErrorf(VerbExtend, "`/access extend` needs a grant ID and a duration, e.g. `%s`", examples[VerbExtend])
	}
	d, err := parseDuration(VerbExtend, dur)
	if err != nil {
		return Command{}, err
	}
	return Command{Name: VerbExtend, ID: id, Duration: d, Reason: cleanReason(rest)}, nil
}

func parseID(verb, rest string) (string, string, error) {
	what := "a request or grant ID"
	switch verb {
	case VerbRevoke, VerbExtend:
		what = "a grant ID"
	case VerbCancel:
		what = "a request ID"
	}
	tok, rest := nextWord(rest)
	if tok == "" {
		return "", "", parseErrorf(verb, "`/access %s` needs %s, e.g. `%s` (`/access list` shows yours)", verb, what, examples[verb])
	}
	id := strings.ToLower(strings.TrimSuffix(unquote(tok), ","))
	if !idPattern.MatchString(id) {
		return "", "", parseErrorf(verb, "%q is not %s, e.g. `%s` (`/access list` shows yours)", truncate(id, 40), what, examples[verb])
	}
	return id, rest, nil
}

func parseDuration(verb, tok string) (time.Duration, error) {
	t := strings.ToLower(unquote(tok))
	d, err := duration.Parse(t)
	if err != nil {
		return 0, parseErrorf(verb, "%q is not a duration: use 30m, 1h, 8h or 1d, e.g. `%s`", truncate(t, 40), examples[verb])
	}
	if d <= 0 {
		return 0, parseErrorf(verb, "The duration must be more than zero (for example 30m, 1h or 4h), e.g. `%s`", examples[verb])
	}
	return d, nil
}

// nextWord returns the first whitespace-separated word of s and what follows it (untrimmed).
func nextWord(s string) (word, rest string) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// quotePairs are the quotes people (and chat apps that "smarten" them) put around words.
var quotePairs = [][2]string{{`"`, `"`}, {`'`, `'`}, {"`", "`"}, {"“", "”"}, {"‘", "’"}, {"«", "»"}, {"„", "“"}}

// unquote removes one pair of matching quotes around all of s: `"fixing the index"` loses its
// quotes, `"INC-42" fixing "it"` keeps them.
func unquote(s string) string {
	for _, q := range quotePairs {
		if len(s) < len(q[0])+len(q[1]) || !strings.HasPrefix(s, q[0]) || !strings.HasSuffix(s, q[1]) {
			continue
		}
		inner := s[len(q[0]) : len(s)-len(q[1])]
		if !strings.Contains(inner, q[1]) {
			return inner
		}
	}
	return s
}

// cleanReason trims the reason, drops one pair of quotes around all of it and folds runs of
// white space (newlines included) into one space: a reason is one line in messages and logs.
func cleanReason(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.Join(strings.Fields(unquote(s)), " ")
}

// closestVerb returns the known verb nearest to s, or "" when none is near.
func closestVerb(s string) string {
	best, bestDist := "", len(s)/2+2
	for _, v := range Verbs {
		d := editDistance(s, v)
		if strings.HasPrefix(v, s) && len(s) >= 2 {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = v, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, by rune, over at most a's first 64
// runes: nothing that long is a typo of a verb.
func editDistance(a, b string) int {
	if ra := []rune(a); len(ra) > 64 {
		a = string(ra[:64])
	}
	return suggest.Distance(a, b)
}

// truncate shortens s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
