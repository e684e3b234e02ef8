package audit_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/accessbot/accessbot/audit"
)

// TestTheHashCoversEveryFieldOfAnEvent changes each field of one event in turn, the list of
// fields taken from audit.Event itself so that a field added later is covered without a new
// case, and expects both the hash and Verify to notice. Only the hashes themselves are left
// out: they are what is checked, and tests elsewhere change them. A field left out of the
// canonical form (once subject, request_id and grant_id could have been, and only goldens
// would have noticed) fails here by name.
func TestTheHashCoversEveryFieldOfAnEvent(t *testing.T) {
	const n, victim = 20, 9 // the tenth event is changed
	chain := func() *memSource {
		s := &memSource{head: audit.EmptyHead()}
		for i := 1; i <= n; i++ {
			s.append(audit.Event{
				At: t0.Add(time.Duration(i) * time.Minute), Type: audit.GrantActive,
				Actor: "alice@example.com", Resource: "prod-db", Subject: "bob@example.com",
				RequestID: fmt.Sprintf("r%d", i), GrantID: fmt.Sprintf("g%d", i),
				Data: map[string]string{"reason": fmt.Sprintf("INC-%d", i), "duration": "1h"},
			})
		}
		return s
	}
	typ := reflect.TypeFor[audit.Event]()
	covered := 0
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Hash" || f.Name == "PrevHash" {
			continue
		}
		for _, change := range changesOf(t, f) {
			t.Run(f.Name+" "+change.name, func(t *testing.T) {
				s := chain()
				e := &s.events[victim]
				sealed := *e
				if reflect.ValueOf(e).Elem().Field(i).IsZero() {
					t.Fatalf("the chain leaves %s empty: the change would test nothing", f.Name)
				}
				change.apply(reflect.ValueOf(e).Elem().Field(i))
				if reflect.DeepEqual(*e, sealed) {
					t.Fatalf("changing %s (%s) left the event as it was", f.Name, change.name)
				}
				if f.Name != "Seq" && audit.ComputeHash(e.PrevHash, *e) == sealed.Hash {
					t.Errorf("the hash does not cover %s: it is the same after %s", f.Name, change.name)
				}
				rep, err := audit.Verify(context.Background(), s, nil)
				if err != nil {
					t.Fatal(err)
				}
				if rep.FirstBad != sealed.Seq {
					t.Errorf("after %s of %s Verify reports first bad %d (%q), want %d", change.name, f.Name, rep.FirstBad, rep.Problem, sealed.Seq)
				}
			})
			covered++
		}
	}
	if covered < 9 {
		t.Fatalf("only %d changes were tried: the field list was not read", covered)
	}
}

// fieldChange is one way to change a field's value.
type fieldChange struct {
	name  string
	apply func(v reflect.Value)
}

// changesOf returns the changes to try on a field, chosen by its type. A field of a type not
// listed fails the test, so that whoever adds it says how it is changed.
func changesOf(t *testing.T, f reflect.StructField) []fieldChange {
	t.Helper()
	switch {
	case f.Type == reflect.TypeFor[time.Time]():
		return []fieldChange{
			{"a microsecond later", func(v reflect.Value) {
				v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Microsecond)))
			}},
			{"a day earlier", func(v reflect.Value) {
				v.Set(reflect.ValueOf(v.Interface().(time.Time).AddDate(0, 0, -1)))
			}},
		}
	case f.Type.Kind() == reflect.String:
		return []fieldChange{
			{"with a letter added", func(v reflect.Value) { v.SetString(v.String() + "x") }},
			{"emptied", func(v reflect.Value) { v.SetString("") }},
		}
	case f.Type.Kind() == reflect.Int64:
		return []fieldChange{{"moved by one", func(v reflect.Value) { v.SetInt(v.Int() + 1) }}}
	case f.Type == reflect.TypeFor[map[string]string]():
		edit := func(do func(m map[string]string)) func(v reflect.Value) {
			return func(v reflect.Value) {
				m := map[string]string{}
				for k, x := range v.Interface().(map[string]string) {
					m[k] = x
				}
				do(m)
				v.Set(reflect.ValueOf(m))
			}
		}
		return []fieldChange{
			{"with a value changed", edit(func(m map[string]string) { m["reason"] += "x" })},
			{"with a key added", edit(func(m map[string]string) { m["extra"] = "" })},
			{"with a key removed", edit(func(m map[string]string) { delete(m, "duration") })},
			{"with a key renamed", edit(func(m map[string]string) { m["Reason"] = m["reason"]; delete(m, "reason") })},
		}
	}
	t.Fatalf("audit.Event.%s has type %s, which this test does not know how to change; add it", f.Name, f.Type)
	return nil
}
