package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/accessbot/accessbot/bot/slack/slacktest"
)

// driver plays the people: requesters send `/access request` as signed slash commands, approvers
// click Approve, now and then a holder ends a grant early with `/access revoke`. It keeps what
// accessbot acknowledged, for the checks.
type driver struct {
	e    *env
	send *slacktest.Sender

	mu  sync.Mutex
	rng *rand.Rand
	// acked are the requests accessbot answered with their ID, by ID.
	acked map[string]ackedRequest
	// approvals waits for a click, in due order.
	approvals []approval
	// clicked are the requests whose approve click was answered 200 in time, by ID.
	clicked map[string]time.Time
	stats   driverStats
	seq     int
}

type ackedRequest struct {
	ID, Resource string
	By           person
	At           time.Time
}

type approval struct {
	RequestID string
	Due       time.Time
	Tries     int
}

// driverStats counts what the people saw.
type driverStats struct {
	Commands, Clicks, Revokes int
	OK                        int
	Refused                   int // no connection: serve was down
	Broken                    int // the connection broke mid-answer: serve was killed
	Status5xx                 int
	Other                     int
}

var requestIDRE = regexp.MustCompile(`Request (r-[a-z2-7]+)`)

func newDriver(e *env, seed uint64) *driver {
	return &driver{
		e: e,
		send: &slacktest.Sender{BaseURL: "http://" + e.serve.Addr, Secret: signingSecret,
			Client: &http.Client{Timeout: 10 * time.Second}},
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		acked:   map[string]ackedRequest{},
		clicked: map[string]time.Time{},
	}
}

func (d *driver) intn(n int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.IntN(n)
}

// between returns a random duration in [lo, hi).
func (d *driver) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return lo + time.Duration(d.rng.Int64N(int64(hi-lo)))
}

// outcome classifies an answer or a transport error and counts it.
func (d *driver) outcome(resp *slacktest.Response, err error) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err != nil && isRefused(err):
		d.stats.Refused++
	case err != nil:
		d.stats.Broken++
	case resp.Status >= 500:
		d.stats.Status5xx++
	case resp.Status == http.StatusOK:
		d.stats.OK++
		return true
	default:
		d.stats.Other++
	}
	return false
}

func isRefused(err error) bool { return strings.Contains(err.Error(), "connection refused") }

// request sends `/access request <resource> <d> <reason>` from a random requester and, when
// accessbot answers with the request's ID, queues its approval after approveAfter.
func (d *driver) request(ctx context.Context, approveAfter time.Duration) (string, bool) {
	p := d.e.requesters[d.intn(len(d.e.requesters))]
	res := resEphemeral
	if d.intn(2) == 1 {
		res = resMember
	}
	secs := 2 + d.intn(5) // 2–6 s
	d.mu.Lock()
	d.seq++
	n := d.seq
	d.stats.Commands++
	d.mu.Unlock()
	resp, err := d.send.Command(ctx, slacktest.Command{
		Text: fmt.Sprintf("request %s %ds INC-%d fault injection", res, secs, n), UserID: p.SlackID, UserName: p.Account,
		ChannelID: "CGENERAL", ResponseURL: d.e.slack.ResponseURL(fmt.Sprintf("cmd-%d", n)),
	})
	if !d.outcome(resp, err) {
		return "", false
	}
	m := requestIDRE.FindSubmatch(resp.Body)
	if m == nil {
		return "", false
	}
	id := string(m[1])
	d.mu.Lock()
	d.acked[id] = ackedRequest{ID: id, Resource: res, By: p, At: time.Now()}
	if approveAfter >= 0 {
		d.approvals = append(d.approvals, approval{RequestID: id, Due: time.Now().Add(approveAfter)})
	}
	d.mu.Unlock()
	return id, true
}

// approve clicks Approve on a request as a random approver; it reports whether accessbot
// answered 200 within Slack's three seconds (then the approval is committed).
func (d *driver) approve(ctx context.Context, requestID string) bool {
	a := d.e.approvers[d.intn(len(d.e.approvers))]
	d.mu.Lock()
	d.stats.Clicks++
	d.mu.Unlock()
	start := time.Now()
	resp, err := d.send.Interaction(ctx, slacktest.BlockAction{
		UserID: a.SlackID, UserName: a.Account, ActionID: "approve", Value: requestID,
		ChannelID: approverChan, MessageTS: "1700000000.000001",
		ResponseURL: d.e.slack.ResponseURL("approve-" + requestID),
	}.Payload())
	ok := d.outcome(resp, err)
	if ok && time.Since(start) < 2*time.Second {
		d.mu.Lock()
		d.clicked[requestID] = time.Now()
		d.mu.Unlock()
	}
	return ok
}

// revoke ends a grant early: its holder sends `/access revoke <id>`.
func (d *driver) revoke(ctx context.Context, grantID string, holder person) bool {
	d.mu.Lock()
	d.stats.Revokes++
	d.mu.Unlock()
	resp, err := d.send.Command(ctx, slacktest.Command{
		Text: "revoke " + grantID, UserID: holder.SlackID, UserName: holder.Account, ChannelID: "CGENERAL",
		ResponseURL: d.e.slack.ResponseURL("revoke-" + grantID),
	})
	return d.outcome(resp, err)
}

// takeDue removes and returns the approvals due now.
func (d *driver) takeDue(now time.Time) []approval {
	d.mu.Lock()
	defer d.mu.Unlock()
	var due, keep []approval
	for _, a := range d.approvals {
		if !a.Due.After(now) {
			due = append(due, a)
		} else {
			keep = append(keep, a)
		}
	}
	d.approvals = keep
	return due
}

func (d *driver) requeue(a approval) {
	if a.Tries >= 30 {
		return
	}
	a.Tries++
	a.Due = time.Now().Add(300 * time.Millisecond)
	d.mu.Lock()
	d.approvals = append(d.approvals, a)
	d.mu.Unlock()
}

// run is the background load until ctx ends: a request every 400–900 ms (approved 0–800 ms
// later, retried while serve is down), and now and then an early revocation.
func (d *driver) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	next := time.Now()
	for ctx.Err() == nil {
		now := time.Now()
		for _, a := range d.takeDue(now) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if !d.approve(ctx, a.RequestID) {
					d.requeue(a)
				}
			}()
		}
		if !now.Before(next) {
			next = now.Add(d.between(400*time.Millisecond, 900*time.Millisecond))
			if d.intn(10) == 0 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if g, holder, ok := d.e.randomActiveGrant(ctx, d.intn); ok {
						d.revoke(ctx, g, holder)
					}
				}()
			} else {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d.request(ctx, d.between(0, 800*time.Millisecond))
				}()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// randomActiveGrant picks an active grant and its holder from accessbot's database.
func (e *env) randomActiveGrant(ctx context.Context, intn func(int) int) (string, person, bool) {
	rows, err := e.store.QueryContext(ctx, `SELECT id, subject FROM grants WHERE state = 'active' ORDER BY id`)
	if err != nil {
		return "", person{}, false
	}
	defer rows.Close()
	type row struct{ id, subject string }
	var all []row
	for rows.Next() {
		var r row
		if rows.Scan(&r.id, &r.subject) == nil {
			all = append(all, r)
		}
	}
	if len(all) == 0 {
		return "", person{}, false
	}
	r := all[intn(len(all))]
	for _, p := range e.requesters {
		if p.Email == r.subject {
			return r.id, p, true
		}
	}
	return "", person{}, false
}
