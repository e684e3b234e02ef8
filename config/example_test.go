package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	_ "github.com/accessbot/accessbot/adapters/exec"
	_ "github.com/accessbot/accessbot/adapters/webhook"
	"github.com/accessbot/accessbot/config"
	"github.com/accessbot/accessbot/grants"
)

const exampleFile = "../config.example.yaml"

// The example must work for a newcomer who has set nothing: no environment variables at all.
func TestTheExampleFileLoadsWithAnEmptyEnvironment(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(exampleFile, data, envOf(nil))
	if err != nil {
		t.Fatalf("the example does not validate:\n%v", err)
	}
	// The example's dsn, accessbot.db, is next to the file (the repository's root), not in
	// this test's working directory.
	if c.Server.Listen != "127.0.0.1:8080" || c.Storage.DSN != filepath.Join("..", "accessbot.db") || len(c.Resources) < 2 {
		t.Errorf("unexpected example: listen %q, dsn %q, %d resources", c.Server.Listen, c.Storage.DSN, len(c.Resources))
	}
	res, err := c.BuildResources(zerolog.Nop())
	if err != nil {
		t.Fatalf("build the example's resources: %v", err)
	}
	types := map[string]bool{}
	for _, r := range res {
		types[r.AdapterType] = true
	}
	if !types["webhook"] || !types["exec"] {
		t.Errorf("the example should show the webhook and exec adapters, has %v", types)
	}
}

// An auto-approve rule in the example should say what its comment says.
func TestTheExampleScratchRuleApprovesShortRequestsInWorkingHours(t *testing.T) {
	c, err := config.Load(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var rule *grants.Rule
	for _, r := range c.Resources {
		if r.Name == "scratch" {
			rule = r.EffectivePolicy().AutoApprove
		}
	}
	if rule == nil {
		t.Fatal("scratch has no auto-approve rule")
	}
	tuesday10 := time.Date(2025, 3, 4, 10, 0, 0, 0, c.Location())
	tests := []struct {
		name string
		dur  time.Duration
		now  time.Time
		want bool
	}{
		{"20 minutes on a Tuesday morning", 20 * time.Minute, tuesday10, true},
		{"an hour on a Tuesday morning", time.Hour, tuesday10, false},
		{"20 minutes at night", 20 * time.Minute, tuesday10.Add(12 * time.Hour), false},
		{"20 minutes on a Saturday", 20 * time.Minute, tuesday10.AddDate(0, 0, 4), false},
	}
	for _, tt := range tests {
		got, err := rule.Eval(grants.RuleInput{Requester: "erin@example.com", Resource: "scratch", Duration: tt.dur, Reason: "test", Now: tt.now})
		if err != nil || got != tt.want {
			t.Errorf("%s: Eval = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

func TestTheExampleSecretComesFromTheEnvironmentWhenSet(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(filepath.Base(exampleFile), data, envOf(map[string]string{"WEBHOOK_SECRET": "from-the-environment"}))
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(c.Secrets(), ","); !strings.Contains(s, "from-the-environment") || strings.Contains(s, "dev-only") {
		t.Errorf("Secrets() = %q", c.Secrets())
	}
}
