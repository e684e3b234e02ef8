// Package servicenowtest is an in-process fake of the ServiceNow Table API for tests: the
// incidents, changes and requested items it holds, GET /api/now/table/<table>?sysparm_query=number=…
// (an empty result for an unknown number) and PATCH /api/now/table/<table>/<sys_id> of
// work_notes, answered as ServiceNow documents ({"error": {"message", "detail"}, "status":
// "failure"} bodies, 401 without valid credentials, 429 with Retry-After, 5xx), every call
// recorded.
package servicenowtest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/accessbot/accessbot/internal/apifake"
)

// Record is one record the fake holds.
type Record struct {
	// Table is "incident", "change_request" or "sc_req_item".
	Table, SysID, Number, ShortDescription string
	// State is the state's value ("2") and StateName its display value ("In Progress").
	State, StateName                string
	Priority, AssignmentGroup       string
	AssignedToName, AssignedToEmail string
	WorkNotes                       []string
}

// Call is one request the fake received.
type Call = apifake.Call

// Failure is an answer the fake gives instead of the real one.
type Failure = apifake.Failure

// Server is the fake.
type Server struct {
	*httptest.Server
	// Recorder records the calls and holds the injected faults (FailNext, SetDown, SetDelay).
	apifake.Recorder
	// User and Password are the basic credentials it accepts; Token the OAuth bearer token.
	User, Password, Token string

	mu      sync.Mutex
	records map[string]*Record // by number
}

// New starts a fake accepting user/password (basic) and token (bearer; "" for none).
func New(user, password, token string) *Server {
	s := &Server{User: user, Password: password, Token: token, records: map[string]*Record{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Put adds or replaces a record.
func (s *Server) Put(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := r
	s.records[r.Number] = &c
}

// SetState moves a record to a state.
func (s *Server) SetState(number, state, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.records[number]; r != nil {
		r.State, r.StateName = state, name
	}
}

// Record returns a copy of a record as it stands.
func (s *Server) Record(number string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[number]
	if !ok {
		return Record{}, false
	}
	c := *r
	c.WorkNotes = append([]string(nil), r.WorkNotes...)
	return c, true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, answered := s.Begin(w, r, func(status int) string { return errBody(http.StatusText(status), "") })
	if answered {
		return
	}
	if !s.authorized(r) {
		apifake.WriteRaw(w, http.StatusUnauthorized, errBody("User Not Authenticated", "Required to provide Auth information"))
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/now/table/")
	if !ok {
		apifake.WriteRaw(w, http.StatusBadRequest, errBody("Requested URI does not represent any resource", ""))
		return
	}
	tableName, sysID, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && sysID == "":
		number, ok := strings.CutPrefix(r.URL.Query().Get("sysparm_query"), "number=")
		if !ok {
			apifake.WriteRaw(w, http.StatusBadRequest, errBody("Invalid query", ""))
			return
		}
		res := []any{}
		if rec := s.records[number]; rec != nil && rec.Table == tableName {
			res = append(res, recordJSON(rec))
		}
		writeJSON(w, http.StatusOK, map[string]any{"result": res})
	case r.Method == http.MethodPatch && sysID != "":
		var rec *Record
		for _, x := range s.records {
			if x.SysID == sysID && x.Table == tableName {
				rec = x
			}
		}
		if rec == nil {
			apifake.WriteRaw(w, http.StatusNotFound, errBody("No Record found", "Record doesn't exist or ACL restricts the record retrieval"))
			return
		}
		var in struct {
			WorkNotes string `json:"work_notes"`
		}
		if json.Unmarshal(body, &in) != nil {
			apifake.WriteRaw(w, http.StatusBadRequest, errBody("Exception while reading request", "Cannot decode: JSON"))
			return
		}
		if in.WorkNotes != "" {
			rec.WorkNotes = append(rec.WorkNotes, in.WorkNotes)
		}
		writeJSON(w, http.StatusOK, map[string]any{"result": map[string]string{"sys_id": rec.SysID}})
	default:
		apifake.WriteRaw(w, http.StatusMethodNotAllowed, errBody("Method not Supported", ""))
	}
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if s.Token != "" && h == "Bearer "+s.Token {
		return true
	}
	return s.User != "" && h == "Basic "+base64.StdEncoding.EncodeToString([]byte(s.User+":"+s.Password))
}

// recordJSON is a record as sysparm_display_value=all shows it.
func recordJSON(r *Record) map[string]any {
	f := func(v, d string) map[string]string { return map[string]string{"value": v, "display_value": d} }
	return map[string]any{
		"sys_id":            f(r.SysID, r.SysID),
		"number":            f(r.Number, r.Number),
		"short_description": f(r.ShortDescription, r.ShortDescription),
		"state":             f(r.State, r.StateName),
		"priority":          f(r.Priority, r.Priority),
		"assignment_group":  f(r.AssignmentGroup, r.AssignmentGroup),
		"assigned_to":       f(r.AssignedToName, r.AssignedToName),
		"assigned_to.email": f(r.AssignedToEmail, r.AssignedToEmail),
	}
}

func errBody(msg, detail string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"message": msg, "detail": detail}, "status": "failure"})
	return string(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	apifake.WriteRaw(w, status, string(b))
}
