package sink_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/audit"
	"github.com/accessbot/accessbot/audit/sink"
	"github.com/accessbot/accessbot/internal/clock"
)

var hookSecret = []byte("siem-shared-secret")

// hookReceiver is a SIEM's HTTP endpoint: it checks the signature, the batch header and the
// chain inside each batch, and records what it got.
type hookReceiver struct {
	t    *testing.T
	now  func() time.Time
	addr string

	mu   sync.Mutex
	srv  *httptest.Server
	got  []delivered
	reqs []*http.Request
	// storeThenFail is how many coming batches are stored and then answered 503: the
	// receiver has them, the sender does not know it.
	storeThenFail int
}

func newHookReceiver(t *testing.T, now func() time.Time) *hookReceiver {
	h := &hookReceiver{t: t, now: now}
	h.serve(nil)
	t.Cleanup(h.stop)
	return h
}

// serve starts the server on its address (a new one the first time).
func (h *hookReceiver) serve(handler http.Handler) {
	addr := h.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		h.t.Fatalf("listen on %s: %v", addr, err)
	}
	if handler == nil {
		handler = h
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	h.mu.Lock()
	h.srv, h.addr = srv, ln.Addr().String()
	h.mu.Unlock()
}

func (h *hookReceiver) stop() {
	h.mu.Lock()
	srv := h.srv
	h.srv = nil
	h.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (h *hookReceiver) url() string { return "http://" + h.addr + "/siem?token=query-credential" }

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := webhook.Verify(hookSecret, r.Header.Get(webhook.HeaderTimestamp), body,
		r.Header.Get(webhook.HeaderSignature), h.now(), 5*time.Minute); err != nil {
		h.t.Errorf("receiver: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var b sink.WebhookBody
	if err := dec.Decode(&b); err != nil || len(b.Events) == 0 {
		h.t.Errorf("receiver: body %q: %v", body, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	first, last := b.Events[0].Seq, b.Events[len(b.Events)-1].Seq
	if got, want := r.Header.Get(sink.HeaderBatch), fmt.Sprintf("%d-%d", first, last); got != want {
		h.t.Errorf("receiver: %s = %q, want %q", sink.HeaderBatch, got, want)
	}
	for i, e := range b.Events {
		checkEvent(h.t, e)
		if i > 0 && e.PrevHash != b.Events[i-1].Hash {
			h.t.Errorf("receiver: event %d does not chain to event %d", e.Seq, b.Events[i-1].Seq)
		}
	}
	h.mu.Lock()
	acked := h.storeThenFail == 0
	if !acked {
		h.storeThenFail--
	}
	for _, e := range b.Events {
		h.got = append(h.got, delivered{seq: e.Seq, acked: acked})
	}
	h.reqs = append(h.reqs, r)
	h.mu.Unlock()
	if !acked {
		http.Error(w, "stored, but the indexer is overloaded", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (h *hookReceiver) received() []delivered {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivered(nil), h.got...)
}

func newWebhookSink(t *testing.T, o sink.WebhookOptions) *sink.Webhook {
	t.Helper()
	w, err := sink.NewWebhook(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestWebhookPostsSignedBatchesTheReceiverCanVerify(t *testing.T) {
	db := newStore(t)
	events := appendEvents(t, db, 3)
	fc := clock.NewFake(time.Now())
	h := newHookReceiver(t, fc.Now)
	w := newWebhookSink(t, sink.WebhookOptions{URL: h.url(), Secret: hookSecret, Clock: fc,
		Headers: map[string]string{"Authorization": "Bearer gateway-token"}})
	if err := w.Send(testCtx(t), events); err != nil {
		t.Fatal(err)
	}
	if got := h.received(); len(got) != 3 || !got[0].acked || got[2].seq != 3 {
		t.Fatalf("received %+v", got)
	}
	r := h.reqs[0]
	if r.Method != http.MethodPost || r.URL.Path != "/siem" || r.URL.Query().Get("token") != "query-credential" {
		t.Errorf("request %s %s", r.Method, r.URL)
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Authorization") != "Bearer gateway-token" {
		t.Errorf("headers %v", r.Header)
	}
	if got, want := r.Header.Get(webhook.HeaderTimestamp), fmt.Sprint(fc.Now().Unix()); got != want {
		t.Errorf("timestamp %s, want the clock's %s", got, want)
	}
	if w.String() != "webhook http://"+h.addr {
		t.Errorf("String() = %q: want scheme and host only (path and query may hold a token)", w.String())
	}
}

func TestWebhookEventsAreTheStoredEvents(t *testing.T) {
	db := newStore(t)
	events := appendEvents(t, db, 2)
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	w := newWebhookSink(t, sink.WebhookOptions{URL: srv.URL, Secret: hookSecret})
	if err := w.Send(testCtx(t), events); err != nil {
		t.Fatal(err)
	}
	var b sink.WebhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	for i := range events {
		got, want := b.Events[i], events[i]
		if !got.At.Equal(want.At) {
			t.Errorf("event %d at %v, want %v", i, got.At, want.At)
		}
		got.At = want.At
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	if !bytes.Contains(body, []byte(`"prev_hash":"`+audit.ZeroHash+`"`)) || !bytes.Contains(body, []byte("<b>é</b>")) {
		t.Errorf("body %s: want prev_hash and unescaped text", body)
	}
}

func TestWebhookFailuresAreErrorsWithoutTheURLsCredentials(t *testing.T) {
	db := newStore(t)
	events := appendEvents(t, db, 1)
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		timeout time.Duration
		want    string
	}{
		{"a 401", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad signature", http.StatusUnauthorized) }, 0, "401"},
		{"a 503", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) }, 0, "503"},
		{"a redirect, not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://elsewhere.example/", http.StatusTemporaryRedirect)
		}, 0, "307"},
		{"no answer in time", func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body) // then the server notices the client hanging up
			<-r.Context().Done()
		}, 50 * time.Millisecond, "deadline"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			w := newWebhookSink(t, sink.WebhookOptions{URL: srv.URL + "/x?token=query-credential", Secret: hookSecret, Timeout: tt.timeout})
			err := w.Send(testCtx(t), events)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "query-credential") {
				t.Errorf("error shows the URL's query: %v", err)
			}
		})
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	w := newWebhookSink(t, sink.WebhookOptions{URL: srv.URL + "/?token=query-credential", Secret: hookSecret})
	if err := w.Send(testCtx(t), events); err == nil || strings.Contains(err.Error(), "query-credential") {
		t.Errorf("a refused connection: err = %v", err)
	}
}

func TestNewWebhookChecksItsOptions(t *testing.T) {
	for _, o := range []sink.WebhookOptions{
		{URL: "ftp://example.com/", Secret: hookSecret},
		{URL: "/relative", Secret: hookSecret},
		{URL: "https://example.com/"},
	} {
		if _, err := sink.NewWebhook(o); err == nil {
			t.Errorf("NewWebhook(%q, secret %t) accepted", o.URL, len(o.Secret) > 0)
		}
	}
}

// The receiver first stores a batch but answers 503, then is gone (connection refused), then
// comes back: everything arrives, the stored-but-unacknowledged batch at most twice.
func TestWebhookSinkCatchesUpAfterAnOutage(t *testing.T) {
	db := newStore(t)
	fc := clock.NewFake(t0)
	h := newHookReceiver(t, fc.Now)
	w := newWebhookSink(t, sink.WebhookOptions{URL: h.url(), Secret: hookSecret, Clock: fc})
	catchUp(t, db, fc, w, outage{
		down: func() {
			h.mu.Lock()
			h.storeThenFail = 1
			h.mu.Unlock()
		},
		worse:    h.stop,
		up:       func() { h.serve(nil) },
		received: h.received,
	})
	got := h.received()
	unacked := 0
	for _, d := range got {
		if !d.acked {
			unacked++
		}
	}
	if unacked == 0 {
		t.Error("the receiver never stored an unacknowledged batch: the test did not test duplicates")
	}
}
