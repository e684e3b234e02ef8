// Package httplink reads the rel="next" page of an HTTP Link header (RFC 8288), as paged REST
// APIs (GitHub's, Okta's) send it, and keeps a client from following it anywhere but the API it
// called: the link is the server's text, and the client's credentials go with the request.
package httplink

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Next returns the path and query of the Link header's rel="next" under base (the API's URL,
// without a final slash), or "" on the last page. A link outside base is an error naming what
// ("the API", "the org").
func Next(h http.Header, base, what string) (string, error) {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			fields := strings.Split(part, ";")
			if len(fields) < 2 {
				continue
			}
			next := false
			for _, p := range fields[1:] {
				if strings.ReplaceAll(strings.TrimSpace(p), " ", "") == `rel="next"` {
					next = true
				}
			}
			if !next {
				continue
			}
			raw := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(fields[0]), "<"), ">")
			u, err := url.Parse(raw)
			if err != nil {
				return "", fmt.Errorf("the next page's link %q is not a URL", raw)
			}
			rest, ok := strings.CutPrefix(u.Scheme+"://"+u.Host+u.EscapedPath(), base)
			if !ok || !strings.HasPrefix(rest, "/") {
				return "", fmt.Errorf("the next page's link %q leaves %s %s", raw, what, base)
			}
			if u.RawQuery != "" {
				rest += "?" + u.RawQuery
			}
			return rest, nil
		}
	}
	return "", nil
}
