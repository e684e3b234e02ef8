package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/accessbot/accessbot/bot/slack"
	"github.com/accessbot/accessbot/bot/slack/slacktest"
)

// signingSecret is the Slack app's signing secret in both phases.
const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// Resources of the accessbot phase: requests alternate between them, per user.
const (
	autoResource     = "bench-auto"     // auto-approved (rule `true`): a request and a grant
	approvalResource = "bench-approval" // waits for an approver: a request
)

// resourceOf is the resource of the n-th request: each user asks for both, in turn.
func resourceOf(n int64, users int) string {
	if (n/int64(users))%2 == 0 {
		return autoResource
	}
	return approvalResource
}

// userID is the Slack ID of the i-th user.
func userID(i int) string { return fmt.Sprintf("U%06d", i) }

// commandBodies makes the bodies of the slash commands, as Slack posts them: form-encoded,
// every field Slack sends, a trigger_id of its own (which also makes every body, and so every
// signature, different), and a reason that names the request.
type commandBodies struct {
	users    int
	prefixes []string // per user and resource: every field but text and trigger_id
}

func newCommandBodies(users int, responseURL string) *commandBodies {
	b := &commandBodies{users: users, prefixes: make([]string, 2*users)}
	for i := range users {
		for j, res := range []string{autoResource, approvalResource} {
			f := url.Values{
				"token":        {"legacy-verification-token"},
				"team_id":      {slacktest.Team},
				"team_domain":  {"fake"},
				"channel_id":   {"C0BENCH"},
				"channel_name": {"bench"},
				"user_id":      {userID(i)},
				"user_name":    {fmt.Sprintf("user%d", i)},
				"command":      {"/access"},
				"api_app_id":   {"A0FAKE"},
				"response_url": {responseURL + "/" + res},
			}
			b.prefixes[2*i+j] = f.Encode()
		}
	}
	return b
}

// body is the n-th request: `/access request <resource> 1h INC-<n> benchmark load`.
func (b *commandBodies) body(n int64) []byte {
	u := int(n % int64(b.users))
	res := resourceOf(n, b.users)
	j := 0
	if res == approvalResource {
		j = 1
	}
	ns := strconv.FormatInt(n, 10)
	text := "request " + res + " 1h INC-" + ns + " benchmark load"
	var s strings.Builder
	s.Grow(len(b.prefixes[2*u+j]) + len(text) + 64)
	s.WriteString(b.prefixes[2*u+j])
	s.WriteString("&text=")
	s.WriteString(url.QueryEscape(text))
	s.WriteString("&trigger_id=13345224609.738474920.bench")
	s.WriteString(ns)
	return []byte(s.String())
}

// verdict classifies an answer: "" when it is the expected one, else what went wrong.
type verdict func(n int64, status int, body []byte) string

// phaseResult is what the clients saw in one measured phase.
type phaseResult struct {
	// OK counts the expected answers; Failures the others, by what went wrong.
	OK       int
	Failures map[string]int
	// Status200 counts 200 answers (expected or not), by resource of the request (accessbot),
	// for the check that every answered request was committed.
	Status200 map[string]int
	Elapsed   time.Duration
	Latency   dist
}

// Rate is expected answers per second.
func (p *phaseResult) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.OK) / p.Elapsed.Seconds()
}

func (p *phaseResult) failureText() string {
	if len(p.Failures) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(p.Failures))
	for k := range p.Failures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", p.Failures[k], k))
	}
	return strings.Join(parts, ", ")
}

// load is a set of clients, each with its own keep-alive connection, sending signed slash
// commands to one URL as fast as they are answered.
type load struct {
	url     string
	clients []*http.Client
	bodies  func(n int64) []byte
	check   verdict
	users   int
	next    []int64 // per client: its next sequence number
}

func newLoad(target string, clients, users int, bodies func(int64) []byte, check verdict) *load {
	l := &load{url: target, bodies: bodies, check: check, users: users, next: make([]int64, clients)}
	for range clients {
		l.clients = append(l.clients, &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				Proxy:               nil, // loopback only
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 1,
				DisableCompression:  true,
			},
		})
	}
	return l
}

func (l *load) close() {
	for _, c := range l.clients {
		c.CloseIdleConnections()
	}
}

// run sends requests from every client for d, and at least until the first minN requests
// have been sent, and returns what they saw. A request still in flight at the end is waited for
// and counted; the elapsed time runs until the last answer.
func (l *load) run(ctx context.Context, d time.Duration, minN int64) phaseResult {
	type clientResult struct {
		ok        int
		failures  map[string]int
		status200 map[string]int
		latencies []time.Duration
	}
	results := make([]clientResult, len(l.clients))
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	var start, stopAt time.Time
	for i, c := range l.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := clientResult{failures: map[string]int{}, status200: map[string]int{}, latencies: make([]time.Duration, 0, 1024)}
			<-startGate
			for ctx.Err() == nil {
				n := l.next[i]*int64(len(l.clients)) + int64(i)
				if n >= minN && !time.Now().Before(stopAt) {
					break
				}
				l.next[i]++
				status, body, lat, err := l.send(ctx, c, n)
				switch {
				case err != nil:
					r.failures["transport errors"]++
					continue
				case status == http.StatusOK:
					r.status200[resourceOf(n, l.users)]++
				}
				if what := l.check(n, status, body); what != "" {
					r.failures[what]++
					continue
				}
				r.ok++
				r.latencies = append(r.latencies, lat)
			}
			results[i] = r
		}()
	}
	start = time.Now()
	stopAt = start.Add(d)
	close(startGate)
	wg.Wait()
	res := phaseResult{Elapsed: time.Since(start), Failures: map[string]int{}, Status200: map[string]int{}}
	var all []time.Duration
	for _, r := range results {
		res.OK += r.ok
		for k, v := range r.failures {
			res.Failures[k] += v
		}
		for k, v := range r.status200 {
			res.Status200[k] += v
		}
		all = append(all, r.latencies...)
	}
	res.Latency = distribution(all)
	return res
}

// send signs the n-th body as Slack does (v0:timestamp:body, HMAC-SHA256) and posts it; the
// latency runs from sending to the end of the answer.
func (l *load) send(ctx context.Context, c *http.Client, n int64) (int, []byte, time.Duration, error) {
	body := l.bodies(n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	ts, sig := slacktest.Sign(signingSecret, time.Now(), body)
	req.Header.Set("Content-Type", slacktest.FormContentType)
	req.Header.Set(slack.HeaderTimestamp, ts)
	req.Header.Set(slack.HeaderSignature, sig)
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	lat := time.Since(t0)
	if err != nil {
		return 0, nil, 0, err
	}
	return resp.StatusCode, answer, lat, nil
}

// dist summarises durations.
type dist struct {
	N             int
	P50, P99, Max time.Duration
}

// distribution returns the nearest-rank percentiles of ds.
func distribution(ds []time.Duration) dist {
	if len(ds) == 0 {
		return dist{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return dist{N: len(s), P50: percentile(s, 50), P99: percentile(s, 99), Max: s[len(s)-1]}
}

// percentile is the nearest-rank p-th percentile of sorted s: the smallest value with at least
// p% of the values at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int((p/100)*float64(len(sorted)) + 0.999999999)
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}
