package postgres_test

import (
	"testing"
	"time"

	"github.com/accessbot/accessbot/adapters/postgres"
	"github.com/accessbot/accessbot/config"
)

// readmeExample is the config example of the README paragraph: it must load as written.
const readmeExample = `groups:
  sre: [alice@example.com]
resources:
  - name: prod-db
    adapter:
      type: postgres
      dsn: "${PROD_DB_BOT_DSN}"      # postgres://accessbot:...@db:5432/app?sslmode=verify-full
      mode: ephemeral                # or membership (GRANT to the person's own login)
      roles: [app_readonly]
      role_prefix: ab_
      on_revoke_owned: reassign      # or drop
      reassign_to: app_owner
      connect_timeout: 5s
      statement_timeout: 15s
    policy:
      approvers: [sre]
  - name: prod-db-own-login
    account: "{{.Local}}"
    adapter:
      type: postgres
      dsn: "${PROD_DB_BOT_DSN}"
      mode: membership
      roles: [app_readonly, app_writer]
    policy:
      approvers: [sre]
`

func TestTheREADMEExampleLoads(t *testing.T) {
	env := map[string]string{"PROD_DB_BOT_DSN": "postgres://accessbot:s3cret@db.example.com:5432/app?sslmode=verify-full"}
	c, err := config.Parse("example.yaml", []byte(readmeExample), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("the README example does not load:\n%v", err)
	}
	eph := c.Resources[0].Adapter.Config.(*postgres.Config)
	if eph.Mode != postgres.ModeEphemeral || eph.OnRevokeOwned != postgres.OwnedReassign || eph.ReassignTo != "app_owner" ||
		eph.ConnectTimeout != 5*time.Second || eph.Timeout != 30*time.Second || string(eph.DSN) != env["PROD_DB_BOT_DSN"] {
		t.Errorf("decoded %+v", *eph)
	}
	if mem := c.Resources[1].Adapter.Config.(*postgres.Config); mem.Mode != postgres.ModeMembership || len(mem.Roles) != 2 {
		t.Errorf("decoded %+v", *mem)
	}
}
