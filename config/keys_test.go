package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// The example documents every key: each key of the schema appears in it. A key added to a
// config struct without a line in the example fails here.
func TestTheExampleMentionsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var keys []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[AdapterConfig]() || seen[t] {
			return
		}
		seen[t] = true
		fields, names := structFields(t)
		for _, name := range names {
			keys = append(keys, name)
			walk(t.FieldByIndex(fields[name].index).Type)
		}
	}
	walk(reflect.TypeFor[Config]())
	if len(keys) < 30 {
		t.Fatalf("found only %d keys: %v", len(keys), keys)
	}
	for _, key := range keys {
		if !strings.Contains(string(data), key+":") {
			t.Errorf("config.example.yaml does not mention %q", key)
		}
	}
}
